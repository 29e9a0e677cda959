"""A fake upstream provider on `responses`: a throw-away RSA key, its JWKS, real signed id_tokens.

idp = FakeIdP(upstream, provider)
start = idp.start(browser, "/accounts/upstream/<slug>/login")   # follows Latch's redirect
idp.answer_token(id_token=idp.id_token(nonce=start.nonce, sub="alice"))
response = idp.callback(browser, start)
"""

import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from apps.upstream.models import UpstreamProvider


@cache
def signing_key(kid: str = "upstream-key-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


@dataclass
class Start:
    """Where Latch sent the browser: the authorization URL and its parameters."""

    url: str
    params: dict[str, str]

    @property
    def state(self) -> str:
        return self.params["state"]

    @property
    def nonce(self) -> str:
        return self.params.get("nonce", "")


class FakeIdP:
    def __init__(self, mock, provider: UpstreamProvider) -> None:
        self.mock = mock
        self.provider = provider
        self.key = signing_key()
        mock.get(provider.jwks_uri, json={"keys": [self.key.as_dict(private=False)]})

    def id_token(self, *, nonce: str, key: RSAKey | None = None, **claims) -> str:
        now = int(time.time())
        body = {
            "iss": self.provider.issuer,
            "aud": self.provider.client_id,
            "sub": "upstream-alice",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        signer = key or self.key
        return jwt.encode({"alg": "RS256", "kid": signer.kid}, body, signer)

    def answer_token(self, **answer) -> None:
        """The token endpoint's next answer: `json=` / `status=` / `body=` as responses takes them,
        or token fields as keyword arguments."""
        if not ({"json", "status", "body"} & set(answer)):
            answer = {
                "json": {"access_token": "up-access-1", "token_type": "Bearer", "expires_in": 3600, **answer}
            }
        self.mock.post(self.provider.token_endpoint, **answer)

    def start(self, browser, path: str, data: dict | None = None, method: str = "get") -> Start:
        response = getattr(browser, method)(path, data or {})
        assert response.status_code == 302, response.status_code
        location = response["Location"]
        assert location.startswith(self.provider.authorization_endpoint), location
        params = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
        return Start(url=location, params=params)

    def callback(self, browser, start: Start | None = None, **params):
        query = {"state": start.state, "code": "upstream-code-1"} if start else {}
        query.update({name: value for name, value in params.items()})
        query = {name: value for name, value in query.items() if value is not None}
        return browser.get(f"/accounts/upstream/{self.provider.slug}/callback", query)

    def token_requests(self) -> list:
        return [
            call for call in self.mock.calls if call.request.url.split("?")[0] == self.provider.token_endpoint
        ]
