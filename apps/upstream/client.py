"""Latch as an OAuth client of an upstream provider: Authlib's OAuth2Session, set up from the registry.

Every request to a provider goes through `provider_session()`, so each one authenticates the way
the provider is configured (`token_endpoint_auth_method`, for the token and revocation endpoints
alike) and gives up after LATCH_UPSTREAM_TIMEOUT seconds. Authlib knows client_secret_basic and
client_secret_post; `client_secret_query` is registered here with Authlib's documented hook
(`register_client_auth_method`).
"""

import logging
from typing import Any

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

from apps.upstream.fields import unseal
from apps.upstream.models import UpstreamProvider

logger = logging.getLogger(__name__)


class UpstreamError(Exception):
    """The provider could not be reached, did not answer in time, or refused the request."""


def encode_client_secret_query(
    client: Any, method: str, uri: str, headers: dict, body: str
) -> tuple[str, dict, str]:
    """client_id and client_secret as query parameters of the endpoint's URL.

    RFC 6749 §2.3.1 says the credentials MUST NOT be in the request URI (they end up in access logs);
    this exists only for the old providers that accept nothing else.
    """
    uri = add_params_to_uri(uri, [("client_id", client.client_id), ("client_secret", client.client_secret)])
    return uri, headers, body


def provider_session(provider: UpstreamProvider, **kwargs: Any) -> OAuth2Session:
    """An Authlib session for `provider`; `kwargs` go to OAuth2Session (token, scope, redirect_uri, ...)."""
    method = provider.token_endpoint_auth_method
    session = OAuth2Session(
        client_id=provider.client_id,
        client_secret=unseal(provider, "client_secret"),
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        code_challenge_method="S256" if provider.use_pkce else None,
        token_endpoint=provider.token_endpoint,
        default_timeout=settings.LATCH_UPSTREAM_TIMEOUT,
        **kwargs,
    )
    session.register_client_auth_method(
        (UpstreamProvider.AuthMethod.CLIENT_SECRET_QUERY.value, encode_client_secret_query)
    )
    return session


def revoke_token(provider: UpstreamProvider, *, token: str, token_type_hint: str) -> None:
    """RFC 7009 §2.2: 200 means the token is revoked (or was invalid already); anything else is an error."""
    if not provider.revocation_endpoint:
        raise UpstreamError(f"{provider.name} has no revocation endpoint.")
    try:
        with provider_session(provider) as session:
            response = session.revoke_token(
                provider.revocation_endpoint, token=token, token_type_hint=token_type_hint
            )
    except requests.Timeout:
        raise UpstreamError(
            f"{provider.name} did not answer within {settings.LATCH_UPSTREAM_TIMEOUT:g} seconds."
        ) from None
    except requests.RequestException as exc:
        raise UpstreamError(f"{provider.name} could not be reached ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise UpstreamError(f"{provider.name} answered HTTP {response.status_code} to the revocation.")
