"""private_key_jwt end to end over HTTP: the client is Authlib's OAuth2Session with its PrivateKeyJWT
client authentication (RFC 7523), Latch pytest-django's live server; client_credentials."""

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from apps.oauth.models import AccessToken
from tests.oauth.assertions import assertion_body, client_key, pkjwt_application, token_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT with assertions that expire after a minute.

    Authlib's default is an hour (`expires_in=3600`), beyond LATCH_CLIENT_ASSERTION_MAX_SECONDS;
    its `sign` is the hook for the lifetime, as its docs show for claims and headers.
    """

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            header=self.headers,
            alg=self.alg,
            expires_in=60,
        )


def token_body(signed: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", **assertion_body(signed)}


def session_for(application, auth_method: PrivateKeyJWT) -> OAuth2Session:
    session = OAuth2Session(
        application.client_id,
        client_key().key,
        scope="member-read",
        token_endpoint_auth_method="private_key_jwt",
    )
    # `aud` is Latch's token endpoint as its issuer names it, not the live server's address.
    session.register_client_auth_method(auth_method)
    return session


def test_authlib_gets_a_client_credentials_token_with_private_key_jwt(live_server):
    application = pkjwt_application()
    auth_method = ShortLivedPrivateKeyJWT(token_endpoint(), headers={"kid": client_key().kid})

    with session_for(application, auth_method) as session:
        first = session.fetch_token(f"{live_server.url}/oauth/token", grant_type="client_credentials")
        second = session.fetch_token(f"{live_server.url}/oauth/token", grant_type="client_credentials")
        member_list = session.get(f"{live_server.url}/api/v1/members")

    assert first["token_type"].lower() == "bearer"
    assert first["access_token"] != second["access_token"]  # a fresh assertion (jti) each time
    assert set(first["scope"].split()) == {"member-read"}
    assert member_list.status_code == 200
    assert AccessToken.objects.filter(application=application).count() == 2


def test_authlibs_default_hour_long_assertion_is_refused(live_server, caplog):
    """A reviewer should see this: the assertion Authlib's PrivateKeyJWT signs by default (valid
    for an hour) is over Latch's five minutes. Sent with requests: an OAuth2Session that raises
    leaves a live-server connection open past the test."""
    application = pkjwt_application()
    signed = private_key_jwt_sign(
        client_key().key, client_id=application.client_id, token_endpoint=token_endpoint()
    )

    response = requests.post(f"{live_server.url}/oauth/token", data=token_body(signed), timeout=10)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "exp too far in the future" in caplog.text


def test_an_assertion_replayed_over_http_is_refused(live_server):
    application = pkjwt_application()
    signed = private_key_jwt_sign(
        client_key().key, client_id=application.client_id, token_endpoint=token_endpoint(), expires_in=60
    )
    first = requests.post(f"{live_server.url}/oauth/token", data=token_body(signed), timeout=10)
    replay = requests.post(f"{live_server.url}/oauth/token", data=token_body(signed), timeout=10)

    assert first.status_code == 200, first.text
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
