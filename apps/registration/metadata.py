"""Client metadata (RFC 7591 §2), read strictly: what a registering client asked for, or why not.

Everything here is pure: it reads the request's JSON and settings, never the database, so a refused
registration cannot have changed anything. The Application's own `full_clean()` runs afterwards
(apps/registration/services.py) and has the last word, e.g. on the JWKS's keys.
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from oauth2_provider.settings import oauth2_settings

from apps.core import outbound
from apps.oauth.models import Application
from apps.oauth.scopes import SCOPES
from apps.oauth.server import SUPPORTED_GRANT_TYPES

# Far more than any honest registration (a JWKS of a few keys is 2-3 KB); refused before parsing.
MAX_BODY_BYTES = 64 * 1024
MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_CONTACTS = 10

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 7591 grant type → the one DOT grant type of the Application (a DOT Application has one).
# refresh_token is not a grant of its own: Latch issues refresh tokens with `offline_access`.
DOT_GRANT_TYPES = {
    "authorization_code": Application.GRANT_AUTHORIZATION_CODE,
    "client_credentials": Application.GRANT_CLIENT_CREDENTIALS,
    DEVICE_CODE: Application.GRANT_DEVICE_CODE,
}
RFC_GRANT_TYPES = {dot: rfc for rfc, dot in DOT_GRANT_TYPES.items()}
REFRESHABLE = frozenset({Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_DEVICE_CODE})

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
KNOWN_AUTH_METHODS = (*SECRET_METHODS, "private_key_jwt", "none")

# RFC 8252 §7.3: the loopback IP literals a native app may listen on, over plain http.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})

# Application fields, as the metadata names them in an error description.
METADATA_NAMES = {
    "name": "client_name",
    "homepage_url": "client_uri",
    "logo_url": "logo_uri",
    "allowed_scopes": "scope",
    "authorization_grant_type": "grant_types",
    "client_type": "token_endpoint_auth_method",
    "pkce_optional": "token_endpoint_auth_method",
}


class InvalidMetadata(Exception):
    """RFC 7591 §3.2.2: `invalid_client_metadata`, or `invalid_redirect_uri` for a redirect URI."""

    def __init__(self, description: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class ClientMetadata:
    """What a registration asked for, checked, in the Application's terms."""

    grant_type: str  # DOT's constant
    client_type: str
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scopes: list[str]
    client_name: str
    client_uri: str
    logo_uri: str
    jwks: dict | None
    jwks_uri: str
    backchannel_logout_uri: str
    backchannel_logout_session_required: bool
    contacts: list[str]

    def application_fields(self) -> dict[str, Any]:
        """The Application's fields this metadata sets (a PUT sets all of them again, RFC 7592 §2.2)."""
        return {
            "name": self.client_name,
            "authorization_grant_type": self.grant_type,
            "client_type": self.client_type,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "redirect_uris": " ".join(self.redirect_uris),
            "post_logout_redirect_uris": " ".join(self.post_logout_redirect_uris),
            "allowed_scopes": list(self.scopes),
            "homepage_url": self.client_uri,
            "logo_url": self.logo_uri,
            "jwks": self.jwks,
            "jwks_uri": self.jwks_uri,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "backchannel_logout_session_required": self.backchannel_logout_session_required,
        }


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as one JSON object; garbage, arrays, NaN, repeated keys and huge bodies refused."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidMetadata(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidMetadata("The request body must be a JSON object (RFC 7591 §3.1).") from exc
    if not isinstance(data, dict):
        raise InvalidMetadata("The request body must be a JSON object (RFC 7591 §3.1).")
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a member name is repeated")
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def client_metadata(data: dict[str, Any], *, scope_ceiling: list[str]) -> ClientMetadata:
    """Check every field Latch knows (unknown ones are ignored, RFC 7591 §2); raises InvalidMetadata."""
    grant_type, wants_refresh = _grant_type(_string_list(data, "grant_types", default=["authorization_code"]))
    _check_response_types(data, grant_type)
    method = _auth_method(data)
    client_type = Application.CLIENT_PUBLIC if method == "none" else Application.CLIENT_CONFIDENTIAL
    jwks, jwks_uri = _client_keys(data, method)
    redirect_uris = [
        _redirect_uri(uri, "invalid_redirect_uri") for uri in _string_list(data, "redirect_uris", default=[])
    ]
    if grant_type == Application.GRANT_AUTHORIZATION_CODE and not redirect_uris:
        raise InvalidMetadata("The authorization_code grant needs redirect_uris.", "invalid_redirect_uri")
    if grant_type != Application.GRANT_AUTHORIZATION_CODE and redirect_uris:
        raise InvalidMetadata(
            "redirect_uris are only for the authorization_code grant.", "invalid_redirect_uri"
        )
    client_name = _string(data, "client_name", max_length=255).strip()
    if grant_type != Application.GRANT_CLIENT_CREDENTIALS and not client_name:
        raise InvalidMetadata("client_name is required: members see it when they are asked to allow the app.")
    return ClientMetadata(
        grant_type=grant_type,
        client_type=client_type,
        token_endpoint_auth_method=method,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=[
            _redirect_uri(uri, "invalid_client_metadata")
            for uri in _string_list(data, "post_logout_redirect_uris", default=[])
        ],
        scopes=_scopes(data, scope_ceiling, wants_refresh=wants_refresh),
        client_name=client_name,
        client_uri=_https_uri(data, "client_uri"),
        logo_uri=_https_uri(data, "logo_uri"),
        jwks=jwks,
        jwks_uri=jwks_uri,
        backchannel_logout_uri=_https_uri(data, "backchannel_logout_uri", fetched=True),
        backchannel_logout_session_required=_boolean(data, "backchannel_logout_session_required"),
        contacts=_contacts(data),
    )


def _present(data: dict[str, Any], name: str) -> bool:
    """JSON null counts as absent, as it does for most clients' serialisers."""
    return data.get(name) is not None


def _string(data: dict[str, Any], name: str, *, max_length: int) -> str:
    if not _present(data, name):
        return ""
    value = data[name]
    if not isinstance(value, str):
        raise InvalidMetadata(f"{name} must be a string.")
    _check_text(name, value, max_length)
    return value


def _check_text(name: str, value: str, max_length: int, error: str = "invalid_client_metadata") -> None:
    if len(value) > max_length:
        raise InvalidMetadata(f"{name} is longer than {max_length} characters.", error)
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        raise InvalidMetadata(f"{name} must not contain control characters.", error)


def _boolean(data: dict[str, Any], name: str) -> bool:
    if not _present(data, name):
        return False
    if not isinstance(data[name], bool):
        raise InvalidMetadata(f"{name} must be true or false.")
    return data[name]


def _string_list(data: dict[str, Any], name: str, *, default: list[str]) -> list[str]:
    if not _present(data, name):
        return list(default)
    values = data[name]
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidMetadata(f"{name} must be an array of strings.")
    if len(values) > MAX_URIS:
        raise InvalidMetadata(f"{name} has more than {MAX_URIS} values.")
    return list(dict.fromkeys(values))


def _grant_type(grant_types: list[str]) -> tuple[str, bool]:
    """The one DOT grant type, and whether refresh_token was asked for too."""
    unsupported = [name for name in grant_types if name not in SUPPORTED_GRANT_TYPES]
    if unsupported:
        raise InvalidMetadata(f"Unsupported grant_types: {', '.join(unsupported)}.")
    main = [name for name in grant_types if name != "refresh_token"]
    if len(main) != 1:
        raise InvalidMetadata(
            "A client has exactly one of the grant types authorization_code, client_credentials and "
            f"{DEVICE_CODE} (with refresh_token for the first and the last); register one client per "
            "grant type."
        )
    grant_type = DOT_GRANT_TYPES[main[0]]
    wants_refresh = "refresh_token" in grant_types
    if wants_refresh and grant_type not in REFRESHABLE:
        raise InvalidMetadata("client_credentials has no refresh_token (RFC 6749 §4.4.3).")
    return grant_type, wants_refresh


def _check_response_types(data: dict[str, Any], grant_type: str) -> None:
    """RFC 7591 §2.1: `code` goes with authorization_code, and no other grant has a response type."""
    expected = ["code"] if grant_type == Application.GRANT_AUTHORIZATION_CODE else []
    if not _present(data, "response_types"):
        return  # the default ("code") is meant for the code grant; other grants have none
    response_types = _string_list(data, "response_types", default=[])
    unsupported = [name for name in response_types if name != "code"]
    if unsupported:
        raise InvalidMetadata(f"Unsupported response_types: {', '.join(unsupported)}.")
    if response_types != expected:
        raise InvalidMetadata('response_types must be ["code"] with authorization_code, else [].')


def supported_auth_methods() -> list[str]:
    """The client authentication methods the token endpoint accepts (what discovery publishes)."""
    published = oauth2_settings.OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED
    return [method for method in KNOWN_AUTH_METHODS if method in published]


def _auth_method(data: dict[str, Any]) -> str:
    if not _present(data, "token_endpoint_auth_method"):
        return "client_secret_basic"  # RFC 7591 §2's default
    method = data["token_endpoint_auth_method"]
    supported = supported_auth_methods()
    if not isinstance(method, str) or method not in supported:
        raise InvalidMetadata(f"token_endpoint_auth_method must be one of {', '.join(supported)}.")
    return method


def _client_keys(data: dict[str, Any], method: str) -> tuple[dict | None, str]:
    """RFC 7591 §2: jwks or jwks_uri, never both; Latch uses them for private_key_jwt only."""
    has_jwks, has_uri = _present(data, "jwks"), _present(data, "jwks_uri")
    if method != "private_key_jwt":
        if has_jwks or has_uri:
            raise InvalidMetadata(
                "jwks and jwks_uri are only for token_endpoint_auth_method private_key_jwt."
            )
        return None, ""
    if has_jwks == has_uri:
        raise InvalidMetadata("private_key_jwt needs exactly one of jwks and jwks_uri.")
    if has_uri:
        return None, _https_uri(data, "jwks_uri", fetched=True)
    jwks = data["jwks"]
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(key, dict) for key in keys):
        raise InvalidMetadata('jwks must be a JSON Web Key Set: an object with a non-empty "keys" array.')
    return jwks, ""


def _split(name: str, uri: str, error: str):
    _check_text(name, uri, MAX_URI_LENGTH, error)
    if not uri or any(character.isspace() for character in uri):
        raise InvalidMetadata(f"{name} must be a URI without spaces: {uri!r}.", error)
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise InvalidMetadata(f"{name} is not a URI: {uri!r}.", error) from exc
    # RFC 6749 §3.1.2 (no fragment), RFC 3986 §3.2.1 (no credentials), and no wildcards anywhere.
    if "#" in uri or "@" in parts.netloc or "*" in uri or not parts.hostname:
        raise InvalidMetadata(
            f"{name} must be an absolute URI with a host, without a fragment, credentials or wildcards: "
            f"{uri!r}.",
            error,
        )
    # RFC 8252 §8.3: "localhost" may resolve elsewhere; a native app listens on an IP literal.
    if parts.hostname == "localhost" or parts.hostname.endswith(".localhost"):
        raise InvalidMetadata(f"{name} must not use localhost; use 127.0.0.1 or [::1]: {uri!r}.", error)
    return parts


def _redirect_uri(uri: str, error: str) -> str:
    """https, or http on a loopback IP literal for a native app (RFC 8252 §7.3); exact, so no wildcard."""
    name = "redirect_uris" if error == "invalid_redirect_uri" else "post_logout_redirect_uris"
    parts = _split(name, uri, error)
    if uri.startswith("https://"):
        return uri
    if uri.startswith("http://") and parts.hostname in LOOPBACK_HOSTS:
        if "http" not in oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES:
            raise InvalidMetadata(
                f"This server does not accept http loopback redirect URIs (LATCH_ALLOW_HTTP_REDIRECT_URIS): "
                f"{uri!r}.",
                error,
            )
        return uri
    raise InvalidMetadata(f"{name} must use https (or http on 127.0.0.1 or [::1]): {uri!r}.", error)


def _https_uri(data: dict[str, Any], name: str, *, fetched: bool = False) -> str:
    """An https URI; one Latch itself will fetch or call may not name an internal address literally."""
    if not _present(data, name):
        return ""
    uri = data[name]
    if not isinstance(uri, str):
        raise InvalidMetadata(f"{name} must be a string.")
    parts = _split(name, uri, "invalid_client_metadata")
    if not uri.startswith("https://"):
        raise InvalidMetadata(f"{name} must use https: {uri!r}.")
    if fetched and outbound.internal_ip_literal(parts.hostname or ""):
        raise InvalidMetadata(f"{name} must not point at a loopback, private or link-local address: {uri!r}.")
    return uri


def _scopes(data: dict[str, Any], ceiling: list[str], *, wants_refresh: bool) -> list[str]:
    """At most the initial access token's scopes; with no `scope`, its default ones (DESIGN.md's rule).

    Scopes only a member can grant are refused for client_credentials by Application.clean().
    """
    requested = data.get("scope")
    if requested is not None and not isinstance(requested, str):
        raise InvalidMetadata("scope must be a string of space-separated scope names.")
    names = [name for name in dict.fromkeys((requested or "").split(" ")) if name]
    if not names:
        scopes = [name for name in SCOPES if name in ceiling and SCOPES[name].default]
        if not scopes:
            raise InvalidMetadata("Name the scopes in scope: this registration allows no default scope.")
        return scopes
    unknown = [name for name in names if name not in SCOPES]
    if unknown:
        raise InvalidMetadata(f"Unknown scopes: {', '.join(unknown)}.")
    beyond = [name for name in names if name not in ceiling]
    if beyond:
        raise InvalidMetadata(f"This registration may not ask for: {', '.join(beyond)}.")
    if "offline_access" in names and not wants_refresh:
        raise InvalidMetadata("offline_access needs refresh_token in grant_types.")
    return [name for name in SCOPES if name in names]


def _contacts(data: dict[str, Any]) -> list[str]:
    contacts = _string_list(data, "contacts", default=[])
    if len(contacts) > MAX_CONTACTS:
        raise InvalidMetadata(f"contacts has more than {MAX_CONTACTS} values.")
    for contact in contacts:
        _check_text("contacts", contact, 254)
    return contacts


def invalid_metadata_of(error: ValidationError) -> InvalidMetadata:
    """The RFC 7591 error for the Application's own ValidationError, in metadata names."""
    messages = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    parts = [
        f"{METADATA_NAMES.get(field, field)}: {' '.join(texts)}"
        for field, texts in messages.items()
        if field != "__all__"
    ] + [" ".join(texts) for field, texts in messages.items() if field == "__all__"]
    code = "invalid_redirect_uri" if "redirect_uris" in messages else "invalid_client_metadata"
    return InvalidMetadata("; ".join(parts), code)


def registered_metadata(application: Application, *, contacts: list[str]) -> dict[str, Any]:
    """The client's metadata as stored (RFC 7591 §3.2.1), in the names it registered them by."""
    grant_types = [RFC_GRANT_TYPES[application.authorization_grant_type]]
    if application.authorization_grant_type in REFRESHABLE and "offline_access" in application.allowed_scopes:
        grant_types.append("refresh_token")
    metadata: dict[str, Any] = {
        "client_name": application.name,
        "grant_types": grant_types,
        "response_types": (
            ["code"] if application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE else []
        ),
        "token_endpoint_auth_method": application.token_endpoint_auth_method,
        "redirect_uris": application.redirect_uris.split(),
        "post_logout_redirect_uris": application.post_logout_redirect_uris.split(),
        "scope": " ".join(application.allowed_scopes),
        "client_uri": application.homepage_url,
        "logo_uri": application.logo_url,
        "jwks": application.jwks,
        "jwks_uri": application.jwks_uri,
        "backchannel_logout_uri": application.backchannel_logout_uri,
        "backchannel_logout_session_required": application.backchannel_logout_session_required,
        "contacts": contacts,
    }
    return {name: value for name, value in metadata.items() if value not in ("", None, [])}
