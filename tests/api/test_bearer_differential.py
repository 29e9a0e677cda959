"""apps/oauth/bearer.py answers every request as DOT's resource path did (tests/api/reference.py).

Hypothesis generates requests to the API (a member view, an any-token view, an app-only view)
and to UserInfo: tokens of every kind (valid, expired, revoked, refresh tokens, id_tokens, codes,
JWT access tokens, DPoP-bound, of a deactivated member, for another audience, short of a scope),
garbage, every scheme spelling, tokens in the URL, the body or the header and the body at once, and
DPoP proofs good and bad. Each
request sequence runs through the reference path and through Latch's, from the same state: equal
status, headers, body and side effects (audit rows, token rows), and no more SQL statements. Where
Latch means to answer otherwise, the difference is named here and proven on its own: a broken
percent-escape at UserInfo (tests/api/test_bearer.py), a token restricted to Latch at UserInfo
(`as_dot_saw_it`), a token in the header and the body of a POST to UserInfo (`two_methods`).
"""

import os
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.audit.models import AuditEvent
from apps.oauth.models import AccessToken
from apps.oauth.validators import token_checksum
from apps.oauth.views import TWO_METHODS
from tests.api.reference import reference_path
from tests.api.tokens import issue_token
from tests.dpop.proofs import ProofKey
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, service_application

pytestmark = pytest.mark.django_db

BASE = "http://testserver"
ME = "/api/v1/members/me"  # a member's token only (TokenKind.USER), member-read
DIRECTORY = "/api/v1/members"  # any token with member-read
CHARGES = "/api/v1/checkout/charges"  # an app's own token only (TokenKind.APP), checkout-write
USERINFO = "/oauth/userinfo"
FORM = "application/x-www-form-urlencoded"
COMPARED_HEADERS = (
    "WWW-Authenticate",
    "Content-Type",
    "Cache-Control",
    "DPoP-Nonce",
    "Pragma",
    "Allow",
    "Vary",
)
FULL_SCOPE = "openid profile email member-read group-read"


@dataclass
class World:
    tokens: dict[str, str]
    key: ProofKey
    other_key: ProofKey


@pytest.fixture
def world() -> World:
    member = member_with_login().user
    gone = member_with_login().user
    key, other_key = ProofKey(), ProofKey()
    tokens = {
        "member": issue_token(FULL_SCOPE, user=member),
        "openid_only": issue_token("openid", user=member),
        "no_openid": issue_token("profile email member-read", user=member),
        "group_only": issue_token("group-read", user=member),
        "expired": issue_token(FULL_SCOPE, user=member, expires_in=-5),
        "revoked": issue_token(FULL_SCOPE, user=member),
        "deactivated": issue_token(FULL_SCOPE, user=gone),
        "app": issue_token("member-read checkout-write"),
        "app_no_scope": issue_token("group-read"),
        "for_api": issue_token(FULL_SCOPE, user=member),
        "for_userinfo": issue_token(FULL_SCOPE, user=member),
        "for_latch": issue_token(FULL_SCOPE, user=member),
        "elsewhere": issue_token(FULL_SCOPE, user=member),
        "bound": issue_token(FULL_SCOPE, user=member),
        "bound_app": issue_token("member-read checkout-write"),
    }
    AccessToken.objects.filter(token_checksum=token_checksum(tokens["revoked"])).delete()
    gone.is_active = False
    gone.save()
    for name, resource in (
        ("for_api", [f"{BASE}/api/v1"]),
        ("for_userinfo", [f"{BASE}/oauth/userinfo"]),
        ("for_latch", [f"{BASE}/"]),
        ("elsewhere", ["https://elsewhere.example/api"]),
    ):
        AccessToken.objects.filter(token_checksum=token_checksum(tokens[name])).update(resource=resource)
    for name in ("bound", "bound_app"):
        AccessToken.objects.filter(token_checksum=token_checksum(tokens[name])).update(jkt=key.jkt)
    jwt_app = ApplicationFactory(access_token_format="jwt")
    issued = flow.obtain_tokens(member, jwt_app, "openid profile email member-read offline_access")
    tokens["jwt_access"] = issued["access_token"]
    tokens["refresh"] = issued["refresh_token"]
    tokens["id_token"] = issued["id_token"]
    browser = Client()
    browser.force_login(member)
    tokens["code"] = flow.obtain_code(browser, ApplicationFactory(), "openid member-read")[0]
    tokens["jwt_app"] = flow.client_credentials(
        Client(), service_application(access_token_format="jwt"), scope="member-read"
    ).json()["access_token"]
    return World(tokens=tokens, key=key, other_key=other_key)


# --- What a request is made of ------------------------------------------------------------------

latin1 = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=40)
garbage_token = st.one_of(
    st.just(""),
    st.just(" "),
    latin1,
    st.binary(max_size=30).map(lambda raw: raw.decode("latin-1")),
    st.just("x" * 5000),
    st.just("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),  # JWT-shaped, unsigned
    st.just("eyJ.a.b.c.d"),
    st.builds(lambda: secrets.token_urlsafe(30)),
)
TOKEN_NAMES = (
    "member",
    "openid_only",
    "no_openid",
    "group_only",
    "expired",
    "revoked",
    "deactivated",
    "app",
    "app_no_scope",
    "for_api",
    "for_userinfo",
    "for_latch",
    "elsewhere",
    "bound",
    "bound_app",
    "jwt_access",
    "refresh",
    "id_token",
    "code",
    "jwt_app",
)
named_token = st.sampled_from(TOKEN_NAMES).map(lambda name: ("named", name))
# Tokens some of the targets take: most clean requests should reach a view's answer.
USABLE = [
    "member",
    "member",
    "app",
    "bound",
    "bound",
    "bound_app",
    "for_api",
    "for_userinfo",
    "for_latch",
    "jwt_access",
    "jwt_app",
]
token = st.one_of(named_token, named_token, garbage_token.map(lambda v: ("raw", v)))
scheme = st.sampled_from(
    ["Bearer", "bearer", "BEARER", "bEaReR", "DPoP", "dpop", "DPOP", "Basic", "Token", ""]
)
separator = st.sampled_from([" ", "  ", "\t", " \t", "\xa0", ""])
padding = st.sampled_from(["", " ", "  ", "\t"])
proof_kind = st.sampled_from(
    [
        "none",
        "good",
        "good",
        "other_key",
        "wrong_url",
        "wrong_method",
        "stale_nonce",
        "no_nonce",
        "old_iat",
        "no_ath",
        "garbage",
        "two",
        "empty",
    ]
)
query = st.one_of(
    st.just(""),
    st.just("access_token=TOKEN"),
    st.just("a=1&access_token="),
    st.just("search=ada"),
    st.just("x=%zz"),
    st.just("x=%4"),
    st.just("q=%E2%9C%93&b=%20"),
    latin1.map(lambda v: v.replace("#", "").replace("\x00", "")),
)


@st.composite
def presented(draw):
    """How one request presents its token: header, proof, query, body."""
    kind = draw(
        st.sampled_from(
            ["clean"] * 5 + ["header"] * 3 + ["none", "raw_header", "two_headers", "body", "header_and_body"]
        )
    )
    if kind == "clean":  # what a client gets right: a real token, one space, a proof if DPoP
        name = draw(st.sampled_from(USABLE * 3 + list(TOKEN_NAMES)))
        dpop = (
            draw(st.booleans()) if name.startswith("bound") else draw(st.sampled_from([False] * 5 + [True]))
        )
        return {
            "kind": "header",
            "token": ("named", name),
            "scheme": "DPoP" if dpop else "Bearer",
            "separator": " ",
            "lead": "",
            "trail": "",
            "proof": draw(st.sampled_from(["good"] * 4 + ["none", "stale_nonce", "no_nonce", "other_key"]))
            if dpop
            else draw(st.sampled_from(["none"] * 6 + ["good"])),
            "query": draw(st.sampled_from([""] * 6 + ["search=ada", "x=%zz"])),
            "json_body": draw(st.sampled_from(["{}", '{"amount_cents": 1}'])),
        }
    return {
        "kind": kind,
        "token": draw(token),
        "other_token": draw(token),
        "body_token": draw(st.one_of(st.none(), token)),  # None: the header's token again
        "scheme": draw(scheme),
        "separator": draw(separator),
        "lead": draw(padding),
        "trail": draw(padding),
        "raw_header": draw(latin1),
        "proof": draw(proof_kind),
        "query": draw(query),
        "json_body": draw(st.sampled_from(["{}", '{"amount_cents": 1}', "{not json", ""])),
    }


TARGETS = [("GET", ME), ("GET", DIRECTORY), ("POST", CHARGES), ("GET", USERINFO), ("POST", USERINFO)]
target = st.sampled_from(
    [
        ("GET", ME),
        ("GET", ME),
        ("GET", DIRECTORY),
        ("POST", CHARGES),
        ("GET", USERINFO),
        ("GET", USERINFO),
        ("POST", USERINFO),
        ("HEAD", ME),
        ("PUT", USERINFO),
        ("OPTIONS", ME),
    ]
)


@st.composite
def scenario(draw):
    """One or two requests: the second may replay the first's DPoP proof (RFC 9449 §11.1)."""
    first = (draw(target), draw(presented()))
    if draw(st.booleans()):
        return [first, first]  # the same request again: the same proof, the same jti
    return [first]


# --- Sending it ---------------------------------------------------------------------------------


def _value(world: World, drawn: tuple[str, str]) -> str:
    kind, value = drawn
    return world.tokens[value] if kind == "named" else value


def _proof(world: World, kind: str, method: str, path: str, token_value: str) -> str | None:
    url = f"{BASE}{path}"
    key = world.key
    match kind:
        case "none":
            return None
        case "good":
            return key.proof(method, url, access_token=token_value)
        case "other_key":
            return world.other_key.proof(method, url, access_token=token_value)
        case "wrong_url":
            return key.proof(method, f"{BASE}/api/v1/groups", access_token=token_value)
        case "wrong_method":
            return key.proof("DELETE", url, access_token=token_value)
        case "stale_nonce":
            return key.proof(method, url, access_token=token_value, nonce="c3RhbGU")
        case "no_nonce":
            return key.proof(method, url, access_token=token_value, nonce=None)
        case "old_iat":
            return key.proof(method, url, access_token=token_value, iat=time.time() - 600)
        case "no_ath":
            return key.proof(method, url)
        case "garbage":
            return "not-a-jws"
        case "two":
            return ", ".join([key.proof(method, url, access_token=token_value)] * 2)
        case "empty":
            return ""
    raise AssertionError(kind)


def build(world: World, method: str, path: str, drawn: dict) -> dict:
    """The arguments of one django.test.Client call (proofs made once, so a replay replays)."""
    token_value = _value(world, drawn["token"])
    meta: dict[str, str] = {}
    data: object = None
    content_type = "application/json"
    if drawn["kind"] in ("header", "header_and_body"):
        meta["HTTP_AUTHORIZATION"] = (
            f"{drawn['lead']}{drawn['scheme']}{drawn['separator']}{token_value}{drawn['trail']}"
        )
    elif drawn["kind"] == "raw_header":
        meta["HTTP_AUTHORIZATION"] = drawn["raw_header"]
    elif drawn["kind"] == "two_headers":  # a WSGI server joins repeated headers with a comma
        other = _value(world, drawn["other_token"])
        meta["HTTP_AUTHORIZATION"] = f"Bearer {token_value}, Bearer {other}"
    elif drawn["kind"] == "body":
        data = {"access_token": token_value}
        content_type = FORM
    if drawn["kind"] == "header_and_body":
        body_token = drawn["body_token"]
        data = {"access_token": token_value if body_token is None else _value(world, body_token)}
        content_type = FORM
    proof = _proof(world, drawn["proof"], method, path, token_value)
    if proof is not None:
        meta["HTTP_DPOP"] = proof
    query_string = drawn["query"].replace("TOKEN", token_value)
    if method in ("POST", "PUT") and data is None:
        data = drawn["json_body"]
    if isinstance(data, dict):
        data = urlencode(data)
    return {
        "method": method,
        "path": path,
        "query": query_string,
        "data": data,
        "content_type": content_type,
        "meta": meta,
    }


def send(call: dict):
    extra = {**call["meta"], "QUERY_STRING": call["query"]}
    return Client().generic(
        call["method"], call["path"], call["data"] or "", content_type=call["content_type"], **extra
    )


def _state() -> tuple:
    """What a request could change: audit rows, and every access token row (last use included)."""
    tokens = sorted(AccessToken.objects.values_list("id", "expires", "scope", "jkt", "resource", "updated"))
    return AuditEvent.objects.count(), tokens


def run(calls: list[dict]) -> list[tuple]:
    cache.clear()  # the DPoP jti replay cache: each path sees the proofs for the first time
    before = _state()
    answers = []
    for call in calls:
        with CaptureQueriesContext(connection) as queries:
            response = send(call)
        answers.append(
            (
                response.status_code,
                {name: response.get(name) for name in COMPARED_HEADERS},
                response.content,
                len(queries),
            )
        )
    return answers, (before, _state())


def _broken_query_at_userinfo(method: str, path: str, drawn: dict) -> bool:
    """DOT's UserInfo crashes (500: oauthlib's ValueError escapes) on a query string with a broken
    percent-escape; Latch's answers 400, as the API always did. Compared on their own below."""
    return path == USERINFO and bool(re.search(r"%[^0-9A-Fa-f]|%[0-9A-Fa-f][^0-9A-Fa-f]", drawn["query"]))


# Restricted to Latch itself: to all of it, or to UserInfo alone (RFC 8707).
FOR_LATCH = (("named", "for_latch"), ("named", "for_userinfo"))


def as_dot_saw_it(path: str, drawn: dict) -> dict:
    """The request DOT's path must answer as Latch answers `drawn`: the same, but at UserInfo.

    The one difference Latch means there (RFC 8707): DOT's UserInfo compared a restricted token's
    resources with its bare path, which no absolute URI matches, so it refused a token restricted
    to Latch or to UserInfo itself; Latch compares UserInfo's absolute URL, as both paths do at the
    API. So at UserInfo such a token must be answered as DOT answered an unrestricted token of the
    same member and scopes (`member`); everywhere else, and for every other token, as DOT did.
    """
    if path != USERINFO:
        return drawn
    return {
        **drawn,
        **{
            name: ("named", "member")
            for name in ("token", "other_token", "body_token")
            if drawn.get(name) in FOR_LATCH
        },
    }


def two_methods(call: dict) -> bool:
    """The other difference Latch means (RFC 6750 §2, §3.1): a POST to UserInfo with a token in the
    Authorization header and an `access_token` in its form body is 400 invalid_request; DOT read
    the header and ignored the body. (A token in the URL is refused first, as before; a GET has no
    form body; the API parses JSON only, so there both paths still answer alike.)"""
    return (
        call["method"] == "POST"
        and call["path"] == USERINFO
        and "HTTP_AUTHORIZATION" in call["meta"]
        and call["content_type"] == FORM
        and "access_token" in QueryDict(call["data"])
        and "access_token" not in QueryDict(call["query"].encode("iso-8859-1"))
    )


def _refused_for_two_methods(calls: list[dict]) -> list[tuple]:
    """Latch's answer where `two_methods`: the refusal, before any lookup, changing nothing."""
    answers, (before, after) = run(calls)
    for status, headers, body, queries in answers:
        assert status == 400, calls[0]
        assert body == f'{{"error": "invalid_request", "error_description": "{TWO_METHODS}"}}'.encode()
        assert 'error="invalid_request"' in headers["WWW-Authenticate"]
        assert queries == 0
    assert after == before
    return answers


def _compare(calls: list[dict], reference_calls: list[dict] | None = None) -> list[tuple]:
    with reference_path():
        expected, expected_effects = run(reference_calls or calls)
    actual, actual_effects = run(calls)
    for new, old in zip(actual, expected, strict=True):
        assert new[:3] == old[:3], calls[0]
        assert new[3] <= old[3], (calls[0], new[3], old[3])
    (before, after), (old_before, old_after) = actual_effects, expected_effects
    assert after[0] - before[0] == old_after[0] - old_before[0]
    assert (after[1] == before[1]) == (old_after[1] == old_before[1])
    return expected


def test_latch_answers_every_request_as_the_dot_path_did(world):
    """First a sweep (each token, as Bearer and as DPoP with a good proof, at each target: what a
    short hypothesis run may not draw), then hypothesis's requests. One test, so the tokens and
    their flows are set up once."""
    statuses = set()
    for name in TOKEN_NAMES:
        for method, path in TARGETS:
            for kind, scheme_name, proof in (
                ("header", "Bearer", "none"),
                ("header", "DPoP", "good"),
                ("header_and_body", "Bearer", "none"),
                ("header_and_body", "DPoP", "good"),
            ):
                drawn = {
                    "kind": kind,
                    "token": ("named", name),
                    "scheme": scheme_name,
                    "separator": " ",
                    "lead": "",
                    "trail": "",
                    "proof": proof,
                    "query": "",
                    "json_body": "{}",
                    "body_token": None,
                }
                call = build(world, method, path, drawn)
                if two_methods(call):
                    statuses.add(_refused_for_two_methods([call])[0][0])
                    continue
                reference = build(world, method, path, as_dot_saw_it(path, drawn))
                statuses.add(_compare([call], [reference])[0][0])
    assert {200, 400, 401, 403} <= statuses  # the sweep reached every kind of answer

    @settings(
        max_examples=int(os.environ.get("LATCH_DIFFERENTIAL_EXAMPLES", "150")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(steps=scenario())
    def answers_alike(steps):
        (method, path), drawn = steps[0]
        if _broken_query_at_userinfo(method, path, drawn):
            return
        call = build(world, method, path, drawn)
        if two_methods(call):
            _refused_for_two_methods([call] * len(steps))
            event(f"{method} {path} -> 400 (two methods)")
            return
        reference = build(world, method, path, as_dot_saw_it(path, drawn))
        expected = _compare([call] * len(steps), [reference] * len(steps))
        event(f"{method} {path} -> {expected[0][0]}")

    answers_alike()
