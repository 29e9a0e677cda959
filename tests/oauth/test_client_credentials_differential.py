"""The lean client_credentials path answers every request as the plain oauthlib path did
(tests/oauth/reference_token.py), and leaves the same rows behind.

Hypothesis generates sequences of token requests (every way of authenticating, right and wrong;
apps of every kind, unknown ones, ones not allowed the grant; scopes, resources, DPoP proofs,
repeated and garbage parameters, other content types) interleaved with changes to the
applications, made here through the ORM or elsewhere (SQL, then the new generation another
instance stores when its change commits). Each sequence runs through the reference path and
through Latch's from the same state: equal status, headers and body (token values compared by
form), the same access-token and audit rows, and no more SQL statements.
"""

import base64
import json
import os
import secrets
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.audit.models import AuditEvent
from apps.oauth import client_cache, services
from apps.oauth.models import AccessToken, Application
from tests.dpop.proofs import ProofKey
from tests.oauth import flow
from tests.oauth.assertions import assertion, assertion_body, pkjwt_application
from tests.oauth.factories import ApplicationFactory, service_application
from tests.oauth.reference_token import reference_path

pytestmark = pytest.mark.django_db

COMPARED_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Pragma",
    "WWW-Authenticate",
    "DPoP-Nonce",
    "Retry-After",
)
TOKEN_COLUMNS = (
    "user_id",
    "application_id",
    "scope",
    "resource",
    "jkt",
    "token_family",
    "id_token_id",
    "source_refresh_token_id",
    "actor",
    "issued_by_exchange",
)


@dataclass
class World:
    apps: dict[str, Application]
    secrets: dict[str, str]
    key: ProofKey


@pytest.fixture
def world() -> World:
    apps = {
        "service": service_application(),
        "basic_only": service_application(token_endpoint_auth_method="client_secret_basic"),
        "post_only": service_application(token_endpoint_auth_method="client_secret_post"),
        "no_default": service_application(allowed_scopes=["checkout-read"]),
        "dpop": service_application(require_dpop=True),
        "jwt": service_application(access_token_format="jwt", access_token_lifetime=120),
        "web": ApplicationFactory(),  # authorization code: not allowed client_credentials
        "public": ApplicationFactory(client_type=Application.CLIENT_PUBLIC),
        "keyed": pkjwt_application(),
    }
    return World(
        apps=apps,
        secrets={name: getattr(app, "secret", "") or "" for name, app in apps.items()},
        key=ProofKey(),
    )


# --- What a sequence is made of -------------------------------------------------------------------

APP_NAMES = ("service", "basic_only", "post_only", "no_default", "dpop", "jwt", "web", "public", "keyed")
latin1 = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=30)
credentials = st.sampled_from(
    ["basic"] * 6
    + ["body"] * 2
    + ["basic_wrong", "body_wrong", "both", "none", "id_only", "basic_garbage", "basic_no_colon"]
    + ["assertion"] * 2
    + ["assertion_bad", "assertion_with_secret", "assertion_other_client"]
)
scope = st.one_of(
    st.sampled_from(
        [
            *(None, None, "member-read", "checkout-read", "member-read checkout-read", "checkout-write"),
            *("openid", "", " member-read  ", "member-read member-read", "nonsense"),
        ]
    ),
    latin1,
)
resource = st.sampled_from([None] * 6 + ["https://api.example.org/", "not a uri", "https://x.example/#f"])
proof = st.sampled_from(["none"] * 4 + ["good", "good", "garbage", "wrong_url", "no_nonce"])
extra = st.sampled_from(
    [{}] * 5
    + [
        {"grant_type": "password"},
        {"grant_type": ""},
        {"grant_type": "client_credentials", "repeat": "grant_type"},
    ]
    + [{"client_id": "someone-else"}, {"junk": "x"}, {"content_type": "application/json"}]
    + [{"content_type": "text/plain"}, {"refresh_token": "abc"}, {"code": "abc"}]
)


@st.composite
def token_request(draw, focus: str) -> dict[str, Any]:
    return {
        "do": "request",
        "app": draw(st.sampled_from((focus,) * 6 + APP_NAMES + ("unknown",))),
        "credentials": draw(credentials),
        "scope": draw(scope),
        "resource": draw(resource),
        "proof": draw(proof),
        "extra": draw(extra),
    }


CHANGES = (
    "rotate_secret",
    "narrow_scopes",
    "widen_scopes",
    "delete",
    "basic_only",
    "post_only",
    "require_dpop",
    "jwt_format",
    "make_public",
)
CHANGED_APPS = ("service", "keyed", "jwt", "dpop", "post_only")


@st.composite
def sequence(draw) -> list[dict[str, Any]]:
    """Requests and changes, most of them about one app: a change matters to the requests after it."""
    focus = draw(st.sampled_from(CHANGED_APPS))
    change = st.builds(
        lambda what, app, where: {"do": "change", "what": what, "app": app, "where": where},
        st.sampled_from(CHANGES),
        st.sampled_from((focus,) * 4 + CHANGED_APPS),
        st.sampled_from(("here", "elsewhere")),
    )
    asked = token_request(focus)
    return draw(st.lists(st.one_of(asked, asked, asked, change), min_size=1, max_size=10))


# --- Running one --------------------------------------------------------------------------------


class Run:
    """One path's run of a sequence, from the world's state, rolled back afterwards."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.secrets = dict(world.secrets)
        self.deleted: set[str] = set()
        self.answers: list[tuple] = []

    def step(self, step: dict[str, Any]) -> None:
        if step["do"] == "change":
            self.change(step)
        else:
            self.request(step)

    def change(self, step: dict[str, Any]) -> None:
        name = step["app"]
        if name in self.deleted:
            return
        application = Application.objects.get(pk=self.world.apps[name].pk)
        updates: dict[str, Any] = {}
        match step["what"]:
            case "rotate_secret":
                if application.client_type != Application.CLIENT_CONFIDENTIAL or name == "keyed":
                    return
                secret = services.new_client_secret()
                self.secrets[name] = secret
                updates["client_secret"] = secret
            case "narrow_scopes":
                updates["allowed_scopes"] = ["checkout-read"]
            case "widen_scopes":
                updates["allowed_scopes"] = ["member-read", "checkout-read", "checkout-write"]
            case "delete":
                self.deleted.add(name)
            case "basic_only" | "post_only":
                if name != "keyed":
                    updates["token_endpoint_auth_method"] = f"client_secret_{step['what'].split('_')[0]}"
            case "require_dpop":
                updates["require_dpop"] = not application.require_dpop
            case "jwt_format":
                updates["access_token_format"] = (
                    "opaque" if application.access_token_format == "jwt" else "jwt"
                )
            case "make_public":
                updates["client_type"] = Application.CLIENT_PUBLIC
        if step["where"] == "here":
            if name in self.deleted:
                application.delete()
                return
            for field, value in updates.items():
                setattr(application, field, value)
            application.save()
            return
        self.change_elsewhere(application, updates, deleted=name in self.deleted)

    @staticmethod
    def change_elsewhere(application: Application, updates: dict[str, Any], *, deleted: bool) -> None:
        """Another instance's change, as this process sees it: the rows (by SQL, so no signal
        reaches this process) and the new generation that instance stores once it commits."""
        if deleted:
            AccessToken.objects.filter(application=application).update(application=None)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM oauth_application WHERE id = %s", [application.pk])
        elif updates:
            for field, value in updates.items():
                setattr(application, field, value)
            fields = [Application._meta.get_field(name) for name in updates]
            values = [
                field.get_db_prep_save(field.pre_save(application, False), connection) for field in fields
            ]
            assignments = ", ".join(f'"{field.column}" = %s' for field in fields)
            statement = f"UPDATE oauth_application SET {assignments} WHERE id = %s"  # noqa: S608 (column names)
            with connection.cursor() as cursor:
                cursor.execute(statement, [*values, application.pk])
        cache.set(client_cache.GENERATION_KEY, secrets.token_hex(16), timeout=None)

    def request(self, step: dict[str, Any]) -> None:
        call = self.build(step)
        before = (set(AccessToken.objects.values_list("pk", flat=True)), AuditEvent.objects.count())
        with CaptureQueriesContext(connection) as queries:
            response = Client().generic(
                "POST", "/oauth/token", call["body"], content_type=call["content_type"], **call["meta"]
            )
        new_tokens = AccessToken.objects.exclude(pk__in=before[0])
        new_events = AuditEvent.objects.order_by("pk")[before[1] :]
        self.answers.append(
            (
                response.status_code,
                {name: response.get(name) for name in COMPARED_HEADERS},
                body_form(response.content),
                [token_form(token) for token in new_tokens],
                [event_form(row) for row in new_events],
                len(queries),
            )
        )

    def build(self, step: dict[str, Any]) -> dict[str, Any]:
        name = step["app"]
        application = self.world.apps.get(name)
        client_id = application.client_id if application else "unknown-client"
        secret = self.secrets.get(name, "no secret")
        extra = dict(step["extra"])
        content_type = extra.pop("content_type", "application/x-www-form-urlencoded")
        repeat = extra.pop("repeat", None)
        form: list[tuple[str, str]] = [("grant_type", "client_credentials")]
        if "grant_type" in extra:
            form = [("grant_type", extra.pop("grant_type"))]
        meta: dict[str, str] = {}
        match step["credentials"]:
            case "basic":
                meta["HTTP_AUTHORIZATION"] = basic(client_id, secret)
            case "basic_wrong":
                meta["HTTP_AUTHORIZATION"] = basic(client_id, secret + "x")
            case "basic_garbage":
                meta["HTTP_AUTHORIZATION"] = "Basic !!not-base64!!"
            case "basic_no_colon":
                meta["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(client_id.encode()).decode()
            case "body":
                form += [("client_id", client_id), ("client_secret", secret)]
            case "body_wrong":
                form += [("client_id", client_id), ("client_secret", "wrong")]
            case "both":
                meta["HTTP_AUTHORIZATION"] = basic(client_id, secret)
                form += [("client_id", client_id), ("client_secret", secret)]
            case "id_only":
                form += [("client_id", client_id)]
            case "assertion" | "assertion_with_secret" | "assertion_other_client":
                signer = (
                    self.world.apps["keyed"]
                    if step["credentials"] == "assertion_other_client"
                    else application
                )
                signed = assertion(signer or self.world.apps["keyed"], jti=f"jti-{secrets.token_hex(8)}")
                if application is None:
                    signed = assertion(self.world.apps["keyed"], iss=client_id, sub=client_id)
                form += list(assertion_body(signed).items())
                if step["credentials"] == "assertion_with_secret":
                    form += [("client_secret", secret)]
                if step["credentials"] == "assertion_other_client":
                    form += [("client_id", client_id)]
            case "assertion_bad":
                form += list(assertion_body("eyJhbGciOiJub25lIn0.e30.").items())
        if step["scope"] is not None:
            form.append(("scope", step["scope"]))
        if step["resource"] is not None:
            form.append(("resource", step["resource"]))
        form += list(extra.items())
        if repeat:
            form += [(key, value) for key, value in form if key == repeat]
        proof = self.proof(step["proof"])
        if proof is not None:
            meta["HTTP_DPOP"] = proof
        body = urlencode(form) if content_type != "application/json" else json.dumps(dict(form))
        return {"body": body, "content_type": content_type, "meta": meta}

    def proof(self, kind: str) -> str | None:
        key = self.world.key
        match kind:
            case "good":
                return key.proof("POST")
            case "garbage":
                return "not-a-jws"
            case "wrong_url":
                return key.proof("POST", "http://testserver/oauth/introspect")
            case "no_nonce":
                return key.proof("POST", nonce=None)
        return None


def basic(client_id: str, secret: str) -> str:
    return flow.basic_auth(client_id, secret)["HTTP_AUTHORIZATION"]


def body_form(content: bytes) -> object:
    """The body, with what differs between any two issued tokens replaced by its form."""
    try:
        body = json.loads(content)
    except ValueError:
        return content
    if not isinstance(body, dict):
        return body
    if isinstance(body.get("access_token"), str):
        body["access_token"] = token_value_form(body["access_token"])
    if isinstance(body.get("created_at"), int):
        body["created_at"] = "<int>"
    return body


def token_value_form(value: str) -> object:
    parts = value.split(".")
    if len(parts) != 3:
        return (
            "opaque",
            len(value),
            set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        )
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    lifetime = claims.pop("exp") - claims.pop("iat")
    claims.pop("jti")
    claims.pop("auth_time", None)
    return ("jwt", header, claims, lifetime)


def token_form(token: AccessToken) -> tuple:
    # Its lifetime to the nearest minute: `expires` is set before the row is built, `created` as it
    # is written, and a busy machine may put a second between the two.
    lifetime = round((token.expires - token.created).total_seconds() / 60)
    return (
        *(getattr(token, column) for column in TOKEN_COLUMNS),
        lifetime,
        len(token.token_prefix),
        bool(token.jti),
        bool(token.token_checksum),
    )


def event_form(row: AuditEvent) -> tuple:
    return (
        row.event,
        row.actor_type,
        row.actor_label,
        row.client_id,
        row.ip,
        json.dumps(row.details, sort_keys=True),
    )


def run(world: World, steps: list[dict[str, Any]], path: Callable[[], Any] | None = None) -> Run:
    """The steps from the world's state, through the reference path or Latch's; rolled back."""
    cache.clear()  # throttling counters, replay caches, the generation: each run starts alike
    client_cache.forget_kept_rows()
    outcome = Run(world)
    with transaction.atomic(), (path or nullcontext)():
        for step in steps:
            outcome.step(step)
        transaction.set_rollback(True)
    return outcome


def compare(world: World, steps: list[dict[str, Any]]) -> list[tuple]:
    expected = run(world, steps, reference_path).answers
    actual = run(world, steps).answers
    assert len(actual) == len(expected)
    for index, (new, old) in enumerate(zip(actual, expected, strict=True)):
        assert new[:5] == old[:5], (index, steps, new[:5], old[:5])
        assert new[5] <= old[5], (index, steps, new[5], old[5])
    return expected


def test_the_lean_path_answers_every_request_as_the_plain_path_did(world):
    """A sweep first (each app with each way to authenticate, twice, so the second finds its
    client kept), then hypothesis's sequences. One test: the apps are set up once."""
    statuses = set()
    for name in APP_NAMES:
        for way in ("basic", "body", "assertion", "basic_wrong"):
            step = {"do": "request", "app": name, "credentials": way, "scope": None, "resource": None}
            step |= {"proof": "good" if name == "dpop" else "none", "extra": {}}
            statuses |= {answer[0] for answer in compare(world, [step, step])}
    assert {200, 400, 401} <= statuses  # the sweep reached every kind of answer
    for name, way in (("service", "basic"), ("keyed", "assertion"), ("jwt", "body"), ("dpop", "basic")):
        ask = {"do": "request", "app": name, "credentials": way, "scope": None, "resource": None}
        ask |= {"proof": "good", "extra": {}}
        for what in CHANGES:
            for where in ("here", "elsewhere"):
                changed = {"do": "change", "what": what, "app": name, "where": where}
                compare(world, [ask, ask, changed, ask, ask])

    @settings(
        max_examples=int(os.environ.get("LATCH_DIFFERENTIAL_EXAMPLES", "150")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(steps=sequence())
    def answers_alike(steps):
        expected = compare(world, steps)
        for answer in expected:
            event(f"-> {answer[0]}")

    answers_alike()
