"""What Latch's OAuth2Validator does differently for the device grant (RFC 8628) at the token endpoint.

A mixin of LatchOAuth2Validator (apps/oauth/validators.py); the device code itself is checked by
apps/oauth/device_token.py, which apps/oauth/server.py registers with oauthlib's grant.
"""

from types import SimpleNamespace

from oauthlib.openid.connect.core.grant_types.base import GrantTypeBase as OpenIDGrantTypeBase

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class _DeviceIdToken(OpenIDGrantTypeBase):
    """oauthlib's OpenID Connect id_token construction (aud, iat, at_hash), for the device grant.

    oauthlib 3.3.1's DeviceCodeGrant applies no token modifiers at the token endpoint (its
    create_token_response goes straight from the token to save_token), so no OpenID Connect grant
    can wrap it the way oauthlib's RefreshTokenGrant wraps the OAuth one. Its add_id_token only
    needs the validator, which signs and stores the id_token (DOT's finalize_id_token); this
    gives it one. Pinned by tests/oauth/test_device_flow.py (one id_token, from here).
    """

    def __init__(self, request_validator) -> None:
        self.proxy_target = SimpleNamespace(request_validator=request_validator)


class DeviceCodeValidatorMixin:
    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:
        """A device's token request carries no scope (RFC 8628 §3.4): it gets the scopes the member
        approved, checked against the app's allowed scopes with the device code (device_token.py)."""
        if request.grant_type == DEVICE_CODE_GRANT_TYPE:
            return True
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)  # type: ignore[misc]

    def _save_bearer_token(self, token, request, *args, **kwargs) -> None:
        """The id_token when `openid` was approved, before the access token is stored to refer to it."""
        if request.grant_type == DEVICE_CODE_GRANT_TYPE and "openid" in (request.scopes or ()):
            _DeviceIdToken(self).add_id_token(token, None, request)
        super()._save_bearer_token(token, request, *args, **kwargs)  # type: ignore[misc]
