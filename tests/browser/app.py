"""A stand-in for the app at https://app.example.org: it answers its redirect URI and remembers the calls.

Playwright cannot answer the redirect with `context.route`: routes never see the hops of a redirect
(microsoft/playwright#2617), and Latch's answer to an authorization request is a 302 to the app.
So the browser resolves app.example.org to this server (Chromium's --host-resolver-rules) and
really follows Latch's redirect there, Content-Security-Policy checks and all. The certificate is
self-signed, made afresh for each run; the browser trusts that one key (`AppServer.chromium_args`).
"""

import base64
import datetime
import hashlib
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "app.example.org"
PAGE = b"<!doctype html><html lang='en'><title>App</title><h1>Back in the app</h1></html>"
LOGO_URL = f"https://{HOST}/logo.svg"
LOGO = (
    b"<svg xmlns='http://www.w3.org/2000/svg' width='56' height='56'>"
    b"<rect width='56' height='56' fill='#2e7d46'/>"
    b"<path d='M14 18h28v24H14zM14 26h28' fill='none' stroke='#fff' stroke-width='4'/></svg>"
)


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext, key_pin: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.key_pin = key_pin
        self.requests: list[str] = []  # the pages the browser opened here (not the logo), in order

    @property
    def chromium_args(self) -> list[str]:
        """Send app.example.org here, and trust this server's key and no other self-signed one."""
        return [
            f"--host-resolver-rules=MAP {HOST} 127.0.0.1:{self.server_address[1]}",
            f"--ignore-certificate-errors-spki-list={self.key_pin}",
        ]

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake happens here, in the connection's own thread: a browser's idle
        # preconnect must not hold up the accepting loop.
        super().finish_request(self.tls.wrap_socket(request, server_side=True), client_address)


class _Handler(BaseHTTPRequestHandler):
    server: AppServer

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":
            self.send_error(404)
        elif f"https://{HOST}{self.path}" == LOGO_URL:
            self._send(LOGO, "image/svg+xml")
        else:
            self.server.requests.append(f"https://{HOST}{self.path}")
            self._send(PAGE, "text/html; charset=utf-8")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass  # no access log in the test output


def _self_signed(directory: Path) -> tuple[Path, Path, str]:
    """Certificate and key files, and the key's pin: base64(sha256(SubjectPublicKeyInfo))."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return cert_file, key_file, base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextmanager
def app_server() -> Iterator[AppServer]:
    """Serve https://app.example.org on a free port of 127.0.0.1 for as long as the block runs."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file, key_pin = _self_signed(Path(directory))
        tls.load_cert_chain(cert_file, key_file)
    server = AppServer(tls, key_pin)
    thread = threading.Thread(target=server.serve_forever, name="app.example.org", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
