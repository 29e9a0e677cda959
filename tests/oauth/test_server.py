"""One oauthlib server per process: built once, shared by DOT's views and its DRF authentication."""

from types import SimpleNamespace

from django.test import override_settings
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.settings import oauth2_settings

from apps.oauth.server import LatchServer, shared_server
from apps.oauth.validators import LatchOAuth2Validator


def test_every_api_request_gets_the_same_server():
    first, second = get_oauthlib_core().server, get_oauthlib_core().server

    assert isinstance(first, LatchServer)
    assert first is second


def test_a_server_per_validator_class():
    class OtherValidator(LatchOAuth2Validator):
        pass

    assert shared_server(OtherValidator()) is not shared_server(LatchOAuth2Validator())
    assert isinstance(shared_server(OtherValidator()).request_validator, OtherValidator)


def test_changed_settings_build_a_new_server():
    before = get_oauthlib_core().server
    settings_now = {**oauth2_settings.user_settings, "ACCESS_TOKEN_EXPIRE_SECONDS": 123}

    with override_settings(OAUTH2_PROVIDER=settings_now):
        during = get_oauthlib_core().server
        assert during is not before
        # The token endpoint's lifetime is a function of the request (apps/oauth/tokens.py).
        assert during.default_token_type.expires_in(SimpleNamespace(client=None)) == 123

    assert get_oauthlib_core().server is not during
