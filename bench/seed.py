"""The benchmark's data, stored the way Latch stores it: digests only, secrets through the services.

Imported only once Django is set up (python -m bench does so with bench.settings). A handful of
clients and members go through Latch's own services and the ORM; tokens and codes the load spends
are minted with bulk_create (the ORM's digest fields hash them); the large scale tables are filled
by PostgreSQL itself with INSERT ... SELECT FROM generate_series, never row by row.
"""

# ruff: noqa: S608 (table and column names come from model metadata; every value is a parameter)

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from jwcrypto import jwk, jws
from oauth2_provider.models import set_token_value
from oauth2_provider.settings import oauth2_settings

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.dpop.nonces import current_nonce
from apps.dpop.proofs import base64url_sha256
from apps.members.models import Member
from apps.oauth import jwt_access_tokens, services, tokens
from apps.oauth.models import AccessToken, Application, Grant, RefreshToken

REDIRECT_URI = "https://bench.example.org/callback"
# What an app that signs members in asks for: an id_token, their record, and refresh tokens.
SIGN_IN_SCOPE = "openid member-read offline_access"
MEMBER_SCOPE = "member-read"  # GET /api/v1/members/me (apps/members/views.py OwnMemberView)
USERINFO_SCOPE = "openid profile email"


@dataclass(frozen=True)
class Client:
    application: Application
    secret: str

    @property
    def basic_auth(self) -> str:
        """RFC 6749 §2.3.1: client id and secret, each form-encoded (both are URL-safe already)."""
        raw = f"{self.application.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class KeyedClient:
    """A client_credentials app that authenticates with private_key_jwt (RFC 7523): its ES256 key."""

    application: Application
    key: jwk.JWK


@dataclass(frozen=True)
class Fixtures:
    service: Client  # client credentials; also the resource server that introspects
    web: Client  # a confidential app that signs members in (authorization code with PKCE)
    user_ids: list[int]
    jwt_web: Application  # the same kind of app, with RFC 9068 JWT access tokens
    keyed: KeyedClient  # client credentials with a client assertion instead of a secret


def seed_fixtures(members: int) -> Fixtures:
    """Two applications, registered as an administrator would, and `members` members with logins."""
    service, service_secret = services.create_application(
        name="Bench service",
        grant_type="client_credentials",
        client_type=Application.CLIENT_CONFIDENTIAL,
        allowed_scopes=["member-read", "checkout-read"],
        is_resource_server=True,  # it introspects the web app's tokens
    )
    web, web_secret = services.create_application(
        name="Bench web app",
        grant_type="authorization_code",
        client_type=Application.CLIENT_CONFIDENTIAL,
        redirect_uris=[REDIRECT_URI],
        allowed_scopes=["openid", "profile", "email", "offline_access", "member-read"],
    )
    jwt_web, _ = services.create_application(
        name="Bench JWT web app",
        grant_type="authorization_code",
        client_type=Application.CLIENT_CONFIDENTIAL,
        redirect_uris=[REDIRECT_URI],
        allowed_scopes=["openid", "profile", "email", "offline_access", "member-read"],
        access_token_format="jwt",
        access_token_lifetime=300,
    )
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid="bench-1")
    keyed, _ = services.create_application(
        name="Bench keyed service",
        grant_type="client_credentials",
        client_type=Application.CLIENT_CONFIDENTIAL,
        allowed_scopes=["member-read"],
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.export_public(as_dict=True)]},
    )
    if service_secret is None or web_secret is None:
        raise RuntimeError("a confidential client must have been given a secret")
    user_ids = []
    for number in range(members):
        email = f"member{number}@bench.example.org"
        # No password: nobody signs in during the run, and an Argon2 hash per member costs seconds.
        user = User.objects.create_user(email, first_name="Member", last_name=f"Number {number}")
        Member.objects.create(user=user, first_name="Member", last_name=f"Number {number}", email=email)
        user_ids.append(user.pk)
    return Fixtures(
        Client(service, service_secret), Client(web, web_secret), user_ids, jwt_web, KeyedClient(keyed, key)
    )


def _raw_token() -> str:
    return tokens.random_token()  # an opaque token as Latch issues them (ACCESS_TOKEN_GENERATOR)


def _access_token(
    application: Application, user_id: int | None, scope: str, raw: str, jkt: str = ""
) -> AccessToken:
    token = AccessToken(
        jkt=jkt,
        user_id=user_id,
        application=application,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
        token_family=uuid.uuid4() if user_id else None,
        token_prefix=raw[:6],
    )
    set_token_value(token, raw)  # keeps only the checksum (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE)
    return token


def mint_access_tokens(
    application: Application, user_ids: list[int], scope: str, count: int, jkt: str = ""
) -> list[str]:
    """`count` live access tokens of members, as the token endpoint would have stored them; bound
    to the DPoP key with thumbprint `jkt` when one is given."""
    raws = [_raw_token() for _ in range(count)]
    tokens = [
        _access_token(application, user_ids[i % len(user_ids)], scope, raw, jkt) for i, raw in enumerate(raws)
    ]
    AccessToken.objects.bulk_create(tokens, batch_size=2000)
    return raws


def mint_jwt_access_tokens(
    application: Application, user_ids: list[int], scope: str, count: int
) -> list[str]:
    """`count` live JWT access tokens (RFC 9068) of members: the claims and signature the token
    endpoint gives them (apps/oauth/jwt_access_tokens.py), stored as it stores them (the digest, the
    jti, the expiry at `exp`)."""
    users = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "public_id"))
    lifetime = application.access_token_lifetime or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    raws, tokens = [], []
    for i in range(count):
        user_id, issued_at = user_ids[i % len(user_ids)], int(time.time())
        claims = jwt_access_tokens.access_token_claims(
            issuer=oauth2_settings.OIDC_ISS_ENDPOINT,
            client_id=application.client_id,
            subject=str(users[user_id]),
            scope=scope,
            resources=[],
            issued_at=issued_at,
            lifetime=lifetime,
        )
        raw = jwt_access_tokens.sign(claims)
        token = _access_token(application, user_id, scope, raw)
        token.expires = datetime.fromtimestamp(issued_at + lifetime, tz=UTC)  # the JWT's exp
        token.token_prefix, token.jti = "", str(claims["jti"])
        raws.append(raw)
        tokens.append(token)
    AccessToken.objects.bulk_create(tokens, batch_size=2000)
    return raws


def dpop_proof(key: jwk.JWK, url: str, access_token: str, nonce: str) -> str:
    """A DPoP proof (RFC 9449 §4.2) for a GET of `url` with `access_token`, as a client signs it."""
    ath = base64url_sha256(access_token)
    claims = {"jti": secrets.token_urlsafe(16), "htm": "GET", "htu": url, "iat": int(time.time()), "ath": ath}
    proof = jws.JWS(json.dumps({**claims, "nonce": nonce}))
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.export_public(as_dict=True)}
    proof.add_signature(key, alg="ES256", protected=json.dumps(header))
    return proof.serialize(compact=True)


def mint_dpop_requests(
    application: Application, user_ids: list[int], scope: str, count: int, url: str
) -> list[tuple[str, str]]:
    """`count` (access token, proof) pairs: a pool of tokens bound to one client key, and a fresh
    proof for each request, signed now (a proof lives LATCH_DPOP_PROOF_SECONDS) with the server's
    current nonce (the bench shares its secret key: bench/run.py server_environment)."""
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    raws = mint_access_tokens(application, user_ids, scope, min(count, 500), jkt=key.thumbprint())
    nonce = current_nonce()
    return [(raws[i % len(raws)], dpop_proof(key, url, raws[i % len(raws)], nonce)) for i in range(count)]


def mint_client_assertions(keyed: KeyedClient, count: int) -> list[tuple[str, ...]]:
    """`count` client assertions (RFC 7523 §3) for Latch's issuer, one per token request: each
    `jti` works once. Signed now, each valid for as long as Latch allows
    (LATCH_CLIENT_ASSERTION_MAX_SECONDS), which a run must not outlast."""
    client_id, now, audience = keyed.application.client_id, int(time.time()), settings.LATCH_ISSUER
    header = json.dumps({"alg": "ES256", "kid": keyed.key.kid})
    lifetime = settings.LATCH_CLIENT_ASSERTION_MAX_SECONDS
    lines: list[tuple[str, ...]] = []
    for _ in range(count):
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + lifetime}
        assertion = jws.JWS(json.dumps({**claims, "jti": secrets.token_urlsafe(16)}))
        assertion.add_signature(keyed.key, alg="ES256", protected=header)
        lines.append((assertion.serialize(compact=True),))
    return lines


@transaction.atomic
def mint_refresh_tokens(application: Application, user_ids: list[int], count: int) -> list[str]:
    """`count` refresh tokens, each with its access token and family, as a code redemption leaves them."""
    access_tokens = [
        _access_token(application, user_ids[i % len(user_ids)], SIGN_IN_SCOPE, _raw_token())
        for i in range(count)
    ]
    AccessToken.objects.bulk_create(access_tokens, batch_size=2000)
    raws = [_raw_token() for _ in range(count)]
    refresh_tokens = []
    for access_token, raw in zip(access_tokens, raws, strict=True):
        refresh_token = RefreshToken(
            user_id=access_token.user_id,
            application=application,
            access_token=access_token,
            token_family=access_token.token_family,
            token_prefix=raw[:6],
        )
        set_token_value(refresh_token, raw)
        refresh_tokens.append(refresh_token)
    RefreshToken.objects.bulk_create(refresh_tokens, batch_size=2000)
    return raws


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def mint_codes(application: Application, user_ids: list[int], count: int) -> list[tuple[str, str]]:
    """`count` (code, verifier) pairs: codes as the consent page issues them, PKCE S256 and a nonce."""
    expires = timezone.now() + timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS)
    pairs, grants = [], []
    for i in range(count):
        code, (verifier, challenge) = _raw_token(), pkce_pair()
        grants.append(
            Grant(
                user_id=user_ids[i % len(user_ids)],
                application=application,
                code=code,  # a DigestField: stored as its SHA-256
                expires=expires,
                redirect_uri=REDIRECT_URI,
                scope=SIGN_IN_SCOPE,
                code_challenge=challenge,
                code_challenge_method="S256",
                nonce=secrets.token_urlsafe(12),
            )
        )
        pairs.append((code, verifier))
    Grant.objects.bulk_create(grants, batch_size=2000)
    return pairs


# --- The scale tables: PostgreSQL fills them itself -----------------------------------------------


def _insert_select(model: type[models.Model], expressions: dict[str, str], params: dict[str, Any]) -> str:
    """INSERT INTO model's table SELECT the given SQL per field FROM generate_series(1, %(count)s) g.

    A field not named takes NULL when it may, else its model default, so that a column someone
    adds later with a default needs no change here; one that has neither stops the seeding.
    """
    columns, values = [], []
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key or model_field.column is None:
            continue
        if model_field.name in expressions:
            value = expressions[model_field.name]
        elif model_field.null:
            continue
        else:
            default = model_field.get_default()
            if default is None:
                raise ValueError(f"bench: no value for {model.__name__}.{model_field.name} in the scale seed")
            key = f"default_{model_field.column}"
            params[key] = model_field.get_db_prep_save(default, connection)
            value = f"%({key})s"
        columns.append(connection.ops.quote_name(model_field.column))
        values.append(value)
    return (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g"
    )


# A digest of a value nobody holds, distinct per row and per run: filler rows are never looked up.
_DIGEST = "encode(sha256(convert_to(%(salt)s || ':' || g, 'UTF8')), 'hex')"
_USER = "(%(user_ids)s::bigint[])[1 + mod(g, %(user_count)s)]"


def seed_scale(fixtures: Fixtures, rows: int, chunk: int = 1_000_000) -> dict[str, int]:
    """`rows` access tokens (half live, half expired up to 60 days ago), rows/4 refresh tokens
    (rotated ones, revoked up to 60 days ago: what rotation leaves behind) and rows/20 redeemed
    codes, expired up to a week ago. Each chunk is one INSERT ... SELECT in its own transaction.

    Every expired access token, the tombstones revoked more than 30 days ago (about half) and the
    codes expired more than an hour ago (nearly all) are past what cleanup_tokens keeps
    (apps/oauth/cleanup.py): that is the cleanup row's backlog.
    """
    counts = {"access_tokens": rows, "refresh_tokens": rows // 4, "codes": rows // 20}
    salt = secrets.token_hex(8)
    common = {"user_ids": fixtures.user_ids, "user_count": len(fixtures.user_ids), "salt": salt}
    web = fixtures.web.application.pk
    plans: list[tuple[type[models.Model], str, dict[str, str]]] = [
        (
            AccessToken,
            "access_tokens",
            {
                "token": "''",
                "token_checksum": _DIGEST,
                "token_prefix": f"left({_DIGEST}, 6)",
                # Even rows live (up to an hour left), odd rows expired (up to 60 days ago).
                "expires": "CASE WHEN mod(g, 2) = 0 THEN now() + random() * interval '1 hour'"
                " ELSE now() - random() * interval '60 days' END",
                "scope": "%(scope)s",
                "created": "now() - interval '61 days'",
                "updated": "now()",
                "user": _USER,
                "application": str(web),
                "token_family": "gen_random_uuid()",
            },
        ),
        (
            RefreshToken,
            "refresh_tokens",
            {
                "token": "''",
                "token_checksum": _DIGEST,
                "token_prefix": f"left({_DIGEST}, 6)",
                "revoked": "now() - random() * interval '60 days'",
                "created": "now() - interval '61 days'",
                "updated": "now()",
                "user": _USER,
                "application": str(web),
                "token_family": "gen_random_uuid()",
            },
        ),
        (
            Grant,
            "codes",
            {
                "code": _DIGEST,
                "expires": "now() - random() * interval '7 days'",
                "redeemed_at": "now() - interval '7 days'",
                "created": "now() - interval '7 days'",
                "updated": "now()",
                "redirect_uri": "%(redirect_uri)s",
                "scope": "%(scope)s",
                "user": _USER,
                "application": str(web),
                "token_family": "gen_random_uuid()",
            },
        ),
    ]
    for model, key, expressions in plans:
        for first in range(1, counts[key] + 1, chunk):
            params: dict[str, Any] = {
                **common,
                "salt": f"{salt}:{key}",
                "scope": SIGN_IN_SCOPE,
                "redirect_uri": REDIRECT_URI,
                "first": first,
                "last": min(first + chunk - 1, counts[key]),
            }
            sql = _insert_select(model, expressions, params)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
    with connection.cursor() as cursor:
        # What autovacuum would have done by the time a table had grown this large; left to
        # autovacuum itself, it would run during the scale rounds and measure itself instead.
        for model in (AccessToken, RefreshToken, Grant):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
    return counts


def security_checks() -> dict[str, Any]:
    """What shows the run kept every protection on: durable commits, digests, rotation, the audit log."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    # The private_key_jwt client has no secret at all (an empty one), which no hasher names.
    secrets_stored_as = {
        secret.partition("$")[0]
        for secret in Application.objects.exclude(client_secret="").values_list("client_secret", flat=True)
    }
    return {
        "fsync": fsync,
        "synchronous_commit": synchronous_commit,
        "client_secret_hashers": sorted(secrets_stored_as),
        "plaintext_tokens": AccessToken.objects.exclude(token="").count()
        + RefreshToken.objects.exclude(token="").count(),
        "token_digests_only": bool(oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE),
        "refresh_rotation": bool(oauth2_settings.ROTATE_REFRESH_TOKEN),
        "refresh_reuse_protection": bool(oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION),
        "audit_tokens_issued": AuditEvent.objects.filter(event=AuditEvent.Event.TOKEN_ISSUED).count(),
    }


def backend_pids(database: str | None = None, exclude: tuple[int, ...] = ()) -> list[int]:
    """The PostgreSQL backends serving a database (the benchmark's by default), other than this
    process's own and those in `exclude` (the stock helper's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = coalesce(%s, current_database()) "
            "AND pid <> pg_backend_pid()",
            [database],
        )
        return [pid for (pid,) in cursor.fetchall() if pid not in exclude]


def postgresql_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]
