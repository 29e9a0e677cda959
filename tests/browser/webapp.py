"""The example web app (examples/webapp) as a real process, signing members in with the live-server Latch.

It runs exactly as `make run` starts it: `python -m django runserver 127.0.0.1:<port> --noreload`
with DJANGO_SETTINGS_MODULE=examples.webapp.settings and its environment variables, in its own
process (one Django settings module per process: Latch's test process has Latch's). Its log goes to
a file; a failed test shows the lines written during it (the hook in tests/browser/conftest.py).

Latch itself is pytest-django's live server on http://localhost:<port>. For these tests only,
`latch_for_webapp` makes that Latch what `make run` makes it for the app: its issuer is the live
server's URL (so discovery, the id_token's `iss` and the authorization response's `iss` name the
address the app really uses), and plain http redirect URIs are accepted (the app's callback is
http://127.0.0.1:<port>/callback, as in fixtures/demo.json). The other browser tests keep the
production settings (https://testserver, https redirect URIs only). Nothing else needs changing:
config/csp.py adds the app's validated http origin to form-action on the consent and sign-out
pages, as it does for an https one.
"""

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from apps.oauth import services
from apps.oauth.models import Application
from tests.processes import clean_environment, free_port, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
DEMO_WEB_URL = "http://127.0.0.1:9000"  # the app's address in fixtures/demo.json
LOG_KEY = pytest.StashKey[tuple["WebApp", int]]()  # the app a test used, and where its log lines start


@dataclass
class WebApp:
    url: str
    client_id: str
    client_secret: str
    log: Path
    process: subprocess.Popen

    def log_from(self, offset: int) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


def log_written_during(item: pytest.Item) -> str | None:
    """What the app logged while `item` ran, if it used the app."""
    if LOG_KEY not in item.stash:
        return None
    app, offset = item.stash[LOG_KEY]
    return app.log_from(offset)


def demo_web_spec() -> dict:
    """demo-web's registration as `make run` loads it (fixtures/demo.json)."""
    demo = json.loads((ROOT / "fixtures" / "demo.json").read_text())
    return next(spec for spec in demo["applications"] if spec["client_id"] == "demo-web")


def _environment(latch_url: str, url: str, client_secret: str, sessions: Path) -> dict[str, str]:
    # Nothing of Latch's own configuration: pytest-django set DJANGO_SETTINGS_MODULE=config.settings.
    return clean_environment(
        without=("DJANGO_", "LATCH_", "DEMO_WEB_"),
        DJANGO_SETTINGS_MODULE="examples.webapp.settings",
        LATCH_URL=latch_url,
        DEMO_WEB_URL=url,
        DEMO_WEB_CLIENT_ID=demo_web_spec()["client_id"],
        DEMO_WEB_CLIENT_SECRET=client_secret,
        DEMO_WEB_SECRET_KEY=secrets.token_urlsafe(50),
        DEMO_WEB_SESSION_DIR=str(sessions),
        PYTHONUNBUFFERED="1",
        # Both servers are on loopback: never through a proxy the environment may name.
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
    )


@pytest.fixture(scope="module")
def webapp(live_server, tmp_path_factory) -> Iterator[WebApp]:
    """The example app's process, for the module's tests; each test registers its client afresh."""
    directory = tmp_path_factory.mktemp("webapp")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_secret = secrets.token_urlsafe(32)
    log = directory / "webapp.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=_environment(live_server.url, url, client_secret, directory / "sessions"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    app = WebApp(url=url, client_id="demo-web", client_secret=client_secret, log=log, process=process)
    try:
        http = requests.Session()
        http.trust_env = False  # loopback: never through a proxy the environment may name
        wait_until_serving(
            process,
            lambda: http.get(f"{app.url}/", timeout=2).status_code == 200,
            name="the example web app",
            log=lambda: app.log_from(0),
            timeout=START_TIMEOUT,
        )
        yield app
    finally:
        stop(process)


@pytest.fixture
def latch_for_webapp(webapp: WebApp, live_server, settings, request) -> Application:
    """Latch as `make run` serves it to the app: issuer = its own URL, http loopback redirect URIs
    accepted, and demo-web registered (from fixtures/demo.json) for this app's port and secret."""
    settings.LATCH_ISSUER = live_server.url
    settings.ALLOW_HTTP_REDIRECT_URIS = True
    # A new dict: DOT reloads its settings on setting_changed, and the old one stays untouched.
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_ISS_ENDPOINT": live_server.url,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
        "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,
    }
    request.node.stash[LOG_KEY] = (webapp, webapp.log.stat().st_size)
    spec = demo_web_spec()
    spec.update(
        homepage_url=f"{webapp.url}/",
        redirect_uris=[uri.replace(DEMO_WEB_URL, webapp.url) for uri in spec["redirect_uris"]],
        post_logout_redirect_uris=[
            uri.replace(DEMO_WEB_URL, webapp.url) for uri in spec["post_logout_redirect_uris"]
        ],
    )
    application, _ = services.create_application(**spec)
    # The secret the app's process was started with (the database is emptied after every test).
    application.client_secret = webapp.client_secret
    application.save()
    return application
