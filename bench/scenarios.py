"""What each scenario sends, for wrk (as a Lua spec) and for the in-process query count alike."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote


class Lines(StrEnum):
    """Where a scenario's per-request values come from."""

    NONE = "none"  # every request is the same
    CYCLE = "cycle"  # a pool of live tokens, reused round-robin
    SPEND = "spend"  # one pre-minted refresh token or code per request: each works once


@dataclass(frozen=True)
class Scenario:
    """One request shape. `{1}`, `{2}` in path, headers and body are the fields of a line."""

    name: str
    what: str
    method: str
    path: str
    expect: str  # a 2xx body must contain this, or the response counts as failed
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    lines: Lines = Lines.NONE
    server: str = "latch"  # or "stock": the stock django-oauth-toolkit server (bench/stock/)
    compares: str | None = None  # a stock scenario: the Latch scenario it is the equivalent of
    # Client authentication is a PBKDF2 hash (0.4 s of CPU): 16 connections on 8 threads get their
    # first answers after 1.5 s or more, so a round of it runs longer (bench/run.py --slow-seconds).
    slow: bool = False

    def fill(self, template: str, fields: list[str]) -> str:
        for number, value in enumerate(fields, start=1):
            template = template.replace(f"{{{number}}}", value)
        return template


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# RFC 7523 §2.2 (apps/oauth/client_assertion.py ASSERTION_TYPE; not imported: no Django here).
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A proof names the URL it is for (`htu`): the seed signs one per request for this path.
DPOP_RESOURCE_PATH = "/api/v1/members/me"


def _post(name: str, what: str, path: str, expect: str, auth: str, body: str, lines: Lines) -> Scenario:
    """A form POST with the client's HTTP Basic credentials (RFC 6749 §2.3.1)."""
    headers = {**FORM, "Authorization": auth}
    return Scenario(name, what, "POST", path, expect, headers=headers, body=body, lines=lines)


def _bearer_get(name: str, what: str, path: str, expect: str) -> Scenario:
    """A GET with a member's access token (RFC 6750 §2.1), one of a pool, round-robin."""
    return Scenario(
        name, what, "GET", path, expect, headers={"Authorization": "Bearer {1}"}, lines=Lines.CYCLE
    )


def scenarios(*, service_auth: str, web_auth: str, redirect_uri: str) -> dict[str, Scenario]:
    """Every scenario, in the order the rounds run them. `*_auth` are HTTP Basic header values."""
    redeem = "grant_type=authorization_code&code={1}&code_verifier={2}&redirect_uri=" + quote(
        redirect_uri, safe=""
    )
    found = [
        Scenario(
            "bare", "a plain Django view, same middleware: the stack's ceiling", "GET", "/bench/bare", '"ok"'
        ),
        _post(
            "client_credentials",
            "token for a service, client secret in HTTP Basic",
            "/oauth/token",
            '"access_token"',
            service_auth,
            "grant_type=client_credentials&scope=member-read",
            Lines.NONE,
        ),
        _post(
            "introspect",
            "RFC 7662 by a confidential client, live member tokens",
            "/oauth/introspect",
            '"active": true',
            service_auth,
            "token={1}&token_type_hint=access_token",
            Lines.CYCLE,
        ),
        _bearer_get(
            "resource", "GET /api/v1/members/me, member token with member-read", "/api/v1/members/me", '"sub"'
        ),
        _bearer_get(
            "jwt_resource",
            "the same with a JWT access token (RFC 9068), found by its digest like an opaque one",
            "/api/v1/members/me",
            '"sub"',
        ),
        Scenario(
            "dpop_resource",
            "the same with a DPoP-bound token (RFC 9449) and a fresh ES256 proof per request",
            "GET",
            DPOP_RESOURCE_PATH,
            '"sub"',
            headers={"Authorization": "DPoP {1}", "DPoP": "{2}"},
            lines=Lines.SPEND,
        ),
        Scenario(
            "private_key_jwt",
            "token for a service, private_key_jwt (RFC 7523): a fresh ES256 client assertion per request",
            "POST",
            "/oauth/token",
            '"access_token"',
            headers=FORM,
            body="grant_type=client_credentials&scope=member-read&client_assertion_type="
            + quote(ASSERTION_TYPE, safe="")
            + "&client_assertion={1}",
            lines=Lines.SPEND,
        ),
        _post(
            "refresh",
            "refresh_token grant with rotation, a fresh refresh token per request",
            "/oauth/token",
            '"refresh_token"',
            web_auth,
            "grant_type=refresh_token&refresh_token={1}",
            Lines.SPEND,
        ),
        _post(
            "code",
            "authorization code with PKCE (S256) redeemed, a fresh code per request",
            "/oauth/token",
            '"id_token"',
            web_auth,
            redeem,
            Lines.SPEND,
        ),
        _bearer_get(
            "userinfo", "OIDC UserInfo, member token with openid profile email", "/oauth/userinfo", '"sub"'
        ),
    ]
    return {scenario.name: scenario for scenario in found}


# Stock DOT's variants: its default (client secrets hashed with Django's PBKDF2 hasher) and
# hash_client_secret=False. The resource scenario has no client authentication, so no variants.
STOCK_VARIANTS = ("pbkdf2", "plain")


def stock_scenarios(clients: Mapping[str, Mapping[str, str]]) -> dict[str, Scenario]:
    """The stock server's equivalents of client_credentials, introspect, refresh (one per variant)
    and resource. `clients[variant][role]` is the HTTP Basic header value of the variant's
    client_credentials ("service") and authorization_code ("web") application.

    DOT's URLs as its tutorial mounts them (/o/token/, /o/introspect/); the resource is
    bench/stock/views.py MeApi. Scopes are DOT's defaults: `read` for the token and the resource.
    """
    found = []
    for variant in STOCK_VARIANTS:
        slow = variant == "pbkdf2"
        service, web = clients[variant]["service"], clients[variant]["web"]
        found += [
            _stock(
                _post(
                    f"stock_client_credentials_{variant}",
                    f"stock DOT: token for a service, {variant} client secret in HTTP Basic",
                    "/o/token/",
                    '"access_token"',
                    service,
                    "grant_type=client_credentials&scope=read",
                    Lines.NONE,
                ),
                "client_credentials",
                slow,
            ),
            _stock(
                _post(
                    f"stock_introspect_{variant}",
                    f"stock DOT: IntrospectTokenView, the service authenticated by its {variant} secret",
                    "/o/introspect/",
                    '"active": true',
                    service,
                    "token={1}&token_type_hint=access_token",
                    Lines.CYCLE,
                ),
                "introspect",
                slow,
            ),
            _stock(
                _post(
                    f"stock_refresh_{variant}",
                    f"stock DOT: refresh_token grant with rotation, {variant} client secret",
                    "/o/token/",
                    '"refresh_token"',
                    web,
                    "grant_type=refresh_token&refresh_token={1}",
                    Lines.SPEND,
                ),
                "refresh",
                slow,
            ),
        ]
    resource = _bearer_get(
        "stock_resource",
        "stock DOT: DRF view, OAuth2Authentication + TokenHasScope(read)",
        "/api/me",
        '"sub"',
    )
    found.append(_stock(resource, "resource", slow=False))
    ordered = sorted(found, key=lambda scenario: LATCH_ORDER.index(scenario.compares or ""))
    return {scenario.name: scenario for scenario in ordered}


LATCH_ORDER = ("client_credentials", "introspect", "resource", "refresh")


def _stock(scenario: Scenario, compares: str, slow: bool) -> Scenario:
    return replace(scenario, server="stock", compares=compares, slow=slow)


def lua_literal(value: object) -> str:
    """`value` (None, bool, number, str, dict or list of them) as a Lua expression."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # Decimal escapes for anything outside printable ASCII, quotes and backslashes: always valid Lua.
        escaped = "".join(
            char if 32 <= ord(char) < 127 and char not in '"\\' else "".join(f"\\{b}" for b in char.encode())
            for char in value
        )
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def write_spec(scenario: Scenario, directory: Path, lines_file: Path | None) -> Path:
    """The spec bench/wrk/scenario.lua reads: `return {...}`."""
    spec = {
        "method": scenario.method,
        "path": scenario.path,
        "headers": dict(scenario.headers),
        "body": scenario.body,
        "lines": str(lines_file) if lines_file else None,
        "spend": scenario.lines is Lines.SPEND,
        "expect": scenario.expect,
    }
    path = directory / f"{scenario.name}.lua"
    path.write_text(f"return {lua_literal(spec)}\n")
    return path
