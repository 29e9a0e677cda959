"""An app's back-channel logout endpoint for the tests: a real HTTP server on 127.0.0.1 in a thread,
and the checks an app makes of the logout token it receives (with joserfc, not what Latch signs with).
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from apps.backchannel.delivery import LOGOUT_EVENT

ISSUER = "https://testserver"  # LATCH_ISSUER of the test settings (pyproject.toml)


class LogoutReceiver:
    """Records every POST; answers `status` after `delay` seconds (or redirects, with `location`)."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.location = ""
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with receiver._lock:
                    receiver.requests.append(
                        {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body}
                    )
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def uri(self, path: str = "/backchannel-logout") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def start(self) -> "LogoutReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tokens(self, path: str | None = None) -> list[str]:
        """The logout_token of each POST (to `path` only, if given)."""
        return [
            parse_qs(request["body"])["logout_token"][0]
            for request in self.requests
            if path is None or request["path"] == path
        ]


def latch_jwks() -> KeySet:
    response = Client().get("/oauth/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


def id_token_claims(tokens: dict) -> dict:
    """The claims of the id_token in a token response, its signature checked against the JWKS."""
    return jwt.decode(tokens["id_token"], latch_jwks(), algorithms=["RS256"]).claims


def verify_logout_token(token: str, application) -> dict:
    """What an app must check (OIDC Back-Channel Logout §2.6): the signature by a key in Latch's
    JWKS, `typ`, iss, aud, iat, exp, jti, the event, sub and/or sid, and no nonce."""
    decoded = jwt.decode(token, latch_jwks(), algorithms=["RS256"])
    assert decoded.header["typ"] == "logout+jwt"
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] in {key["kid"] for key in Client().get("/oauth/jwks").json()["keys"]}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": application.client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    claims = decoded.claims
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert "sub" in claims or "sid" in claims
    assert "nonce" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 120
    return claims
