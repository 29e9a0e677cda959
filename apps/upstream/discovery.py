"""OpenID Connect Discovery 1.0 of an upstream provider: fetch, check, then fill in its endpoints.

`discover()` only reads; `apply_discovery()` copies a checked document onto a provider in memory.
Any failure (unreachable, timeout, an HTTP error, not JSON, a document that does not hold up) raises
DiscoveryError before anything is copied, so a failed discovery changes nothing.
"""

import json
import logging
from dataclasses import dataclass, field

import requests
from authlib.oidc.discovery import OpenIDProviderMetadata
from django.conf import settings
from django.utils import timezone

from apps.upstream.models import ENDPOINT_FIELDS, UpstreamProvider, insecure_url

logger = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 512 * 1024


class DiscoveryError(Exception):
    """The provider's configuration could not be fetched or does not hold up; nothing was changed."""


@dataclass(frozen=True)
class Discovered:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str = ""
    userinfo_endpoint: str = ""
    token_endpoint_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    code_challenge_methods: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code", "implicit")
    warnings: list[str] = field(default_factory=list)


def expected_issuer(discovery_url: str, issuer: str = "") -> str:
    """OIDC Discovery §4.3: the issuer is the discovery URL without /.well-known/openid-configuration.

    A provider whose discovery URL does not follow that rule needs its issuer given explicitly.
    """
    if discovery_url.endswith(WELL_KNOWN):
        return discovery_url.removesuffix(WELL_KNOWN)
    if issuer:
        return issuer
    raise DiscoveryError(
        f"The discovery URL does not end in {WELL_KNOWN}: give the provider's issuer as well, so that "
        "the document can be checked against it."
    )


def _fetch(url: str) -> object:
    timeout = settings.LATCH_UPSTREAM_TIMEOUT
    try:
        with requests.get(
            url, timeout=timeout, allow_redirects=False, stream=True, headers={"Accept": "application/json"}
        ) as response:
            if response.is_redirect:
                raise DiscoveryError(
                    f"{url} redirects to {response.headers.get('Location', '?')}; give that URL instead."
                )
            if response.status_code != 200:
                raise DiscoveryError(f"{url} answered HTTP {response.status_code}, not the configuration.")
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.Timeout:
        raise DiscoveryError(f"{url} did not answer within {timeout:g} seconds.") from None
    except requests.RequestException as exc:
        raise DiscoveryError(f"{url} could not be reached ({type(exc).__name__}).") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise DiscoveryError(
            f"{url} answered more than {MAX_DOCUMENT_BYTES // 1024} KiB; not a configuration."
        )
    try:
        return json.loads(body)
    except ValueError:
        raise DiscoveryError(f"{url} did not answer with JSON.") from None


def _check(document: dict, *, issuer: str) -> None:
    for name in ENDPOINT_FIELDS:
        value = document.get(name)
        if value is not None and not (isinstance(value, str) and value.startswith(("https://", "http://"))):
            raise DiscoveryError(f"The configuration's {name} is not an http(s) URL.")
        if isinstance(value, str) and insecure_url(value):
            raise DiscoveryError(f"The configuration's {name} ({value}) is not https.")
    if document.get("issuer") != issuer:
        raise DiscoveryError(
            f"The configuration names issuer {document.get('issuer')!r}, not {issuer!r} (OIDC Discovery "
            "§4.3: they must be identical, or another provider could stand in for this one)."
        )
    # Authlib checks the rest of the metadata (required members, their types, RS256). It also wants
    # https outside loopback; the scheme rule is Latch's own, checked above (http is allowed in
    # development), so Authlib sees the URLs with the scheme already judged.
    judged = {
        name: f"https://{value.removeprefix('http://')}"
        if name in ENDPOINT_FIELDS and isinstance(value, str) and value.startswith("http://")
        else value
        for name, value in document.items()
    }
    try:
        OpenIDProviderMetadata(judged).validate()
    except ValueError as exc:
        raise DiscoveryError(f"The configuration is not valid OpenID Connect metadata: {exc}.") from None


def _strings(value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else default


def discover(discovery_url: str, *, issuer: str = "") -> Discovered:
    """Fetch and check the configuration at `discovery_url`; DiscoveryError says what is wrong."""
    if insecure_url(discovery_url):
        raise DiscoveryError(f"{discovery_url} is not https.")
    expected = expected_issuer(discovery_url, issuer)
    document = _fetch(discovery_url)
    if not isinstance(document, dict):
        raise DiscoveryError(f"{discovery_url} did not answer with a JSON object.")
    _check(document, issuer=expected)
    return Discovered(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        revocation_endpoint=document.get("revocation_endpoint") or "",
        userinfo_endpoint=document.get("userinfo_endpoint") or "",
        token_endpoint_auth_methods=_strings(
            document.get("token_endpoint_auth_methods_supported"), ("client_secret_basic",)
        ),
        code_challenge_methods=_strings(document.get("code_challenge_methods_supported"), ()),
        grant_types=_strings(document.get("grant_types_supported"), ("authorization_code", "implicit")),
    )


def warnings_for(provider: UpstreamProvider, discovered: Discovered) -> list[str]:
    """What the provider says it supports, against how it is configured in Latch."""
    warnings = []
    method = provider.token_endpoint_auth_method
    if (
        method != UpstreamProvider.AuthMethod.CLIENT_SECRET_QUERY
        and method not in discovered.token_endpoint_auth_methods
    ):
        warnings.append(
            f"{provider.slug}: the provider lists client authentication "
            f"{', '.join(discovered.token_endpoint_auth_methods)}, not {method}."
        )
    if (
        provider.use_pkce
        and discovered.code_challenge_methods
        and "S256" not in discovered.code_challenge_methods
    ):
        warnings.append(
            f"{provider.slug}: the provider does not list PKCE S256; turn PKCE off if sign-in fails."
        )
    if (
        UpstreamProvider.GrantType.REFRESH_TOKEN in provider.grant_types
        and "refresh_token" not in discovered.grant_types
    ):
        warnings.append(f"{provider.slug}: the provider does not list the refresh_token grant.")
    return warnings


def apply_discovery(provider: UpstreamProvider, discovered: Discovered) -> list[str]:
    """Copy the discovered endpoints onto `provider` (not saved); returns warnings worth showing."""
    for name in ENDPOINT_FIELDS:
        setattr(provider, name, getattr(discovered, name))
    provider.discovered_at = timezone.now()
    warnings = warnings_for(provider, discovered)
    for warning in warnings:
        logger.warning("upstream.discovery_warning %s", warning, extra={"provider": provider.slug})
    return warnings


def provider_discover(provider: UpstreamProvider) -> list[str]:
    """Fetch `provider.discovery_url`, fill in its endpoints (not saved); DiscoveryError changes nothing."""
    discovered = discover(provider.discovery_url, issuer=provider.issuer)
    return apply_discovery(provider, discovered)
