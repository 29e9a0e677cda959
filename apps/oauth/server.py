"""The oauthlib server Latch runs (DOT's OIDC_SERVER_CLASS hook), narrowed to what Latch supports.

Removing a grant or response type here, rather than only refusing it in the validator, makes the
server answer `unsupported_grant_type` / `unsupported_response_type` exactly as RFC 6749 says.
"""

from django.core.signals import setting_changed
from django.dispatch import receiver
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256
from oauthlib.openid import Server

from apps.oauth import dpop_binding, tokens
from apps.oauth.device_token import mark_device_poll, redeem_device_code
from apps.oauth.models import TOKEN_EXCHANGE_GRANT_TYPE
from apps.oauth.token_exchange import TokenExchangeGrant

SUPPORTED_GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    TOKEN_EXCHANGE_GRANT_TYPE,  # RFC 8693, Latch's own grant (apps/oauth/token_exchange.py)
)
SUPPORTED_RESPONSE_TYPES = ("code",)
# RFC 9700 §2.1.1: "plain" PKCE protects nothing against an attacker who reads the request.
CODE_CHALLENGE_METHODS = {"S256": code_challenge_method_s256}


class LatchServer(Server):
    def __init__(self, request_validator, *args, **kwargs) -> None:
        # oauthlib's `token_expires_in` may be a function of the request: each application's own
        # access token lifetime, else ACCESS_TOKEN_EXPIRE_SECONDS (the number DOT would pass).
        kwargs["token_expires_in"] = tokens.access_token_lifetime
        super().__init__(request_validator, *args, **kwargs)
        grant_types = {**self.grant_types, TOKEN_EXCHANGE_GRANT_TYPE: TokenExchangeGrant(request_validator)}
        response_types = self.response_types
        self._grant_types = {name: grant_types[name] for name in SUPPORTED_GRANT_TYPES}
        self._response_types = {name: response_types[name] for name in SUPPORTED_RESPONSE_TYPES}
        # The plain OAuth grant and the one OIDC requests proxy to must both refuse "plain".
        for grant in (self.auth_grant, self.openid_connect_auth.proxy_target):
            grant._code_challenge_methods = CODE_CHALLENGE_METHODS
            # RFC 9449 §10: a malformed dpop_jkt is refused; a good one joins the credentials.
            grant.custom_validators.post_auth.append(dpop_binding.validate_dpop_jkt)
        # oauthlib's documented custom validators: the device code is Latch's to check (RFC 8628).
        device_validators = self.device_code_grant.custom_validators
        device_validators.pre_token.append(mark_device_poll)
        device_validators.post_token.append(redeem_device_code)


_servers: dict[type, LatchServer] = {}


def shared_server(request_validator, **server_kwargs) -> LatchServer:
    """The OIDC_SERVER_CLASS DOT calls: one LatchServer per validator class, built on first use.

    DOT's views keep one server per view class, but its DRF authentication builds a new one
    (grant types, endpoints, a fresh validator) for every API request: 0.2 ms of CPU, as much as
    the token lookup. Servers and validators keep no state between requests (everything of one
    request lives on its oauthlib Request), so DOT's views already share them between threads.
    A change of OAUTH2_PROVIDER in tests builds them afresh.
    """
    server = _servers.get(type(request_validator))
    if server is None:
        server = _servers.setdefault(type(request_validator), LatchServer(request_validator, **server_kwargs))
    return server


@receiver(setting_changed)
def _forget_servers(*, setting: str, **kwargs) -> None:
    if setting == "OAUTH2_PROVIDER":
        _servers.clear()
