import pytest


@pytest.fixture(autouse=True)
def _registration_on(settings):
    settings.LATCH_CLIENT_REGISTRATION = True


@pytest.fixture
def private_key_jwt(settings):
    """A token endpoint that accepts private_key_jwt (RFC 7523), as Latch's settings publish it;
    pinned here so that these tests do not depend on that default."""
    methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": methods,
    }


@pytest.fixture
def loopback_redirects(settings):
    """A deployment that accepts plain http redirect URIs (LATCH_ALLOW_HTTP_REDIRECT_URIS)."""
    schemes = ["http", "https"]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": schemes}
