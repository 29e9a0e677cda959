"""Against a real upstream: a second Latch, in its own process with its own database, plays the provider.

Nothing is mocked. The second Latch runs `manage.py runserver` on 127.0.0.1 with its own SQLite
database, secret key, signing key and vault keys (nothing shared with this process's var/); this
process's Latch is pytest-django's live server on localhost (a different host, so the two sessions'
cookies never mix). A `requests.Session` is the member's browser; the live server's own code
(discovery, Authlib's code exchange, the id_token check, refreshes, revocation) talks to the
upstream over HTTP as it would in production. Steps, in one test because each builds on the last:

a. sign in through the upstream, linking an existing Latch member by verified email and password;
b. connect the upstream account with an API scope (consent upstream for the new scopes only);
c. an app declared for one API scope gets an upstream token narrowed to it (the upstream honours
   `scope` on refresh), and it works upstream;
d. the narrowed token expires: the vault narrows again, the upstream rotates, the old token is dead;
   the connection's own token, refreshed after the narrowing, still carries every granted scope;
e. the member disconnects: the upstream revokes the tokens.
"""

import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.upstream.fields import unseal
from apps.upstream.models import Connection, ScopedToken, UpstreamIdentity, UpstreamProvider
from config.devkeys import dev_rsa_private_key
from tests.accounts.factories import PASSWORD, UserFactory
from tests.api.tokens import issue_token
from tests.oauth.factories import ApplicationFactory
from tests.processes import clean_environment, free_port, stop, wait_until_serving
from tests.upstream.factories import RequirementFactory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SLUG = "upstream-latch"
MEMBER_EMAIL = "grace@example.org"
UPSTREAM_PASSWORD = "upstream password of grace 42"
API_SCOPE = "activity-read"  # an API scope of the upstream: GET /api/v1/activities
# Longer than the vault's refresh margin (60 s), or every token would be refreshed before first use;
# step d makes the stored token expire instead of waiting.
ACCESS_TOKEN_SECONDS = 300
START_TIMEOUT = 60.0

SEED_MEMBER = f"""
import json
from django.contrib.auth import get_user_model
user = get_user_model().objects.create_user(
    {MEMBER_EMAIL!r}, {UPSTREAM_PASSWORD!r}, email_verified=True, first_name="Grace", last_name="Hopper"
)
print(json.dumps({{"public_id": str(user.public_id)}}))
"""


# --- The second Latch ------------------------------------------------------------------------------


@dataclass
class Upstream:
    url: str
    client_id: str
    client_secret: str
    member_sub: str
    log: Path

    def get(self, path: str, *, timeout: float = 10, **kwargs) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=timeout, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(f"{self.url}{path}", timeout=10, **kwargs)

    def introspect(self, token: str, hint: str = "access_token") -> dict:
        response = self.post(
            "/oauth/introspect",
            data={"token": token, "token_type_hint": hint},
            auth=(self.client_id, self.client_secret),
        )
        assert response.status_code == 200, response.text
        return response.json()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def upstream_environment(directory: Path, port: int) -> dict[str, str]:
    """The second Latch's own settings: nothing of this process's (DJANGO_*, LATCH_*, keys in var/)."""
    keys = directory / "keys"
    dev_rsa_private_key(keys)  # a new RSA key, written 0600 into the upstream's own directory
    return clean_environment(
        without=("DJANGO_", "LATCH_", "OIDC_", "DATABASE_", "CACHE_", "EMAIL_"),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{directory / 'upstream.sqlite3'}",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        LATCH_DEV_KEYS="0",
        OIDC_RSA_PRIVATE_KEY_FILE=str(keys / "dev-oidc-key.pem"),
        LATCH_VAULT_KEYS="up:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        LATCH_VAULT_CURRENT_KEY="up",
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        LATCH_ALLOW_HTTP_REDIRECT_URIS="1",
        LATCH_ISSUER=f"http://127.0.0.1:{port}",
        CACHE_URL="locmemcache://",
        LATCH_ACCESS_TOKEN_SECONDS=str(ACCESS_TOKEN_SECONDS),
        PYTHONUNBUFFERED="1",
    )


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"upstream `manage.py {args[0]}` failed:\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def upstream(live_server, tmp_path_factory) -> Iterator[Upstream]:
    """The second Latch: migrated, seeded (a member, a client for this Latch's callback), serving."""
    directory = tmp_path_factory.mktemp("upstream-latch")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = upstream_environment(directory, port)
    manage(env, "migrate", "--noinput")
    client = json.loads(
        manage(
            env,
            "create_client",
            "Latch downstream",
            "--grant",
            "authorization_code",
            "--client-type",
            "confidential",
            "--redirect-uri",
            f"{live_server.url}/accounts/upstream/{SLUG}/callback",
            "--scopes",
            f"openid email profile offline_access {API_SCOPE}",
            "--json",
        )
    )
    member = json.loads(manage(env, "shell", "-c", SEED_MEMBER).strip().splitlines()[-1])
    log = directory / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Upstream(
        url=url,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        member_sub=member["public_id"],
        log=log,
    )
    # Both Latches are on loopback: never through a proxy the environment may name (requests, and so
    # Authlib in this process, read these at each request).
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("no_proxy", "127.0.0.1,localhost")
        environment.setenv("NO_PROXY", "127.0.0.1,localhost")
        try:
            wait_until_serving(
                process,
                lambda: server.get("/healthz", timeout=2).text == "ok",
                name="the upstream Latch",
                log=server.log_tail,
                timeout=START_TIMEOUT,
                poll=0.2,
            )
            yield server
        finally:
            stop(process)


# --- The member's browser --------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """Every <form> of a page with its action, method, inputs' values and named buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("action", ""), attributes.get("method", "get").lower()))
        elif self.forms and tag == "input" and attributes.get("name"):
            if attributes.get("type") == "submit":
                self.forms[-1].buttons.append((attributes["name"], attributes.get("value", "")))
            else:
                self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        elif self.forms and tag == "button" and attributes.get("name"):
            self.forms[-1].buttons.append((attributes["name"], attributes.get("value", "")))


class Browser:
    """A member's browser: cookies per host, redirects followed, forms submitted as they are on the page.

    Both Latches run with DEBUG off, so their cookies are `Secure`; browsers send those to
    http://localhost and http://127.0.0.1 (loopback is a secure context), and so does this one.
    """

    def __init__(self) -> None:
        self.session = requests.Session()

    def request(self, method: str, url: str, *, follow: bool = True, **kwargs) -> requests.Response:
        history = []
        while True:
            response = self.session.request(method, url, allow_redirects=False, timeout=30, **kwargs)
            for cookie in self.session.cookies:
                cookie.secure = False
            if not (follow and response.is_redirect):
                break
            history.append(response)
            method, url, kwargs = "GET", urljoin(response.url, response.headers["Location"]), {}
        response.history = history
        return response

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def submit(
        self, page: requests.Response, *, action: str = "", button: tuple[str, str] | None = None, **values
    ) -> requests.Response:
        """Fill in and post the page's form whose action contains `action` (the first one: "")."""
        parser = FormParser()
        parser.feed(page.text)
        forms = [form for form in parser.forms if action in form.action and form.method == "post"]
        assert forms, f"no form posting to {action!r} on {page.url}:\n{page.text[:2000]}"
        form = forms[0]
        data = {**form.fields, **values}
        if button is not None:
            assert button in form.buttons, f"no button {button} on {page.url}: {form.buttons}"
            data[button[0]] = button[1]
        return self.request("POST", urljoin(page.url, form.action or page.url), data=data)


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def hops(response: requests.Response) -> list[str]:
    """Every URL the browser went through to get this page, the page included."""
    return [hop.url for hop in response.history] + [response.url]


# --- The journey -----------------------------------------------------------------------------------


@pytest.fixture
def provider(upstream, live_server, settings, tmp_path) -> UpstreamProvider:
    """The second Latch registered here with the command, through its real discovery document."""
    settings.LATCH_UPSTREAM_ALLOW_HTTP = True  # read at call time (models.insecure_url)
    secret = tmp_path / "client-secret"
    secret.write_text(upstream.client_secret)
    call_command(
        "upstream_provider",
        "add",
        SLUG,
        "--name",
        "Upstream Latch",
        "--discovery-url",
        f"{upstream.url}/.well-known/openid-configuration",
        "--client-id",
        upstream.client_id,
        "--client-secret-file",
        str(secret),
        "--scope",
        "openid=Sign you in",
        "--scope",
        "email=Your email address",
        "--scope",
        "profile=Your name",
        "--scope",
        "offline_access=Keep access while you are away",
        "--scope",
        f"{API_SCOPE}=See the activities",
        "--default-scopes",
        "openid email profile",
        "--allow-sign-in",
        "--pkce",
        stdout=StringIO(),
    )
    return UpstreamProvider.objects.get(slug=SLUG)


def test_sign_in_connect_vault_refresh_and_disconnect_against_a_real_upstream(
    upstream, provider, live_server
):
    assert provider.issuer == upstream.url
    assert provider.token_endpoint == f"{upstream.url}/oauth/token"
    assert provider.revocation_endpoint == f"{upstream.url}/oauth/revoke"
    member = UserFactory(email=MEMBER_EMAIL)  # the same verified email, another password
    browser = Browser()
    try:
        sign_in(browser, upstream, provider, member, live_server.url)
        connect(browser, upstream, provider, member, live_server.url)
        token = app_gets_a_token(upstream, provider, member, live_server.url)
        token = refresh(upstream, token)
        refresh_after_narrowing(upstream, provider, member, live_server.url)
        disconnect(browser, upstream, provider, member, live_server.url, token)
    except BaseException:
        print(f"--- upstream Latch's log ---\n{upstream.log_tail()}")  # pytest shows it with the failure
        raise


def sign_in(browser: Browser, upstream: Upstream, provider, member, here: str) -> None:
    """a. Sign in through the upstream; the first time, link by verified email plus the Latch password."""
    login = browser.get(f"{here}/accounts/login/")
    assert login.status_code == 200
    assert "Sign in with Upstream Latch" in login.text
    start = browser.get(f"{here}/accounts/upstream/{SLUG}/login", follow=False)
    assert start.status_code == 302
    authorize = start.headers["Location"]
    assert authorize.startswith(f"{upstream.url}/oauth/authorize?")
    asked = query(authorize)
    assert asked["client_id"] == upstream.client_id
    assert asked["redirect_uri"] == f"{here}/accounts/upstream/{SLUG}/callback"
    assert asked["scope"].split() == ["openid", "email", "profile"]
    assert asked["code_challenge_method"] == "S256"
    assert asked["state"]
    assert asked["nonce"]

    upstream_login = browser.get(authorize)
    assert upstream_login.url.startswith(f"{upstream.url}/accounts/login/")
    consent = browser.submit(upstream_login, login=MEMBER_EMAIL, password=UPSTREAM_PASSWORD)
    assert consent.status_code == 200
    assert consent.url.startswith(f"{upstream.url}/oauth/authorize?")
    assert "Latch downstream wants to access your Latch account" in consent.text

    confirm = browser.submit(consent, button=("allow", "true"))
    assert confirm.status_code == 200, confirm.text
    back = hops(confirm)
    assert any(url.startswith(f"{here}/accounts/upstream/{SLUG}/callback?") for url in back), back
    assert confirm.url == f"{here}/accounts/upstream/{SLUG}/link/confirm"
    assert MEMBER_EMAIL in confirm.text
    assert not UpstreamIdentity.objects.exists()

    wrong = browser.submit(confirm, password=UPSTREAM_PASSWORD)  # the upstream's password is not Latch's
    assert wrong.status_code == 200
    assert "That is not the password of this account" in wrong.text
    home = browser.submit(wrong, password=PASSWORD)
    assert home.status_code == 200
    assert home.url == f"{here}/accounts/"
    assert MEMBER_EMAIL in home.text
    identity = UpstreamIdentity.objects.get(provider=provider)
    assert identity.user == member
    assert identity.subject == upstream.member_sub


def connect(browser: Browser, upstream: Upstream, provider, member, here: str) -> None:
    """b. Connect an API scope and offline_access (for a refresh token): the upstream asks for those only.

    The member first denies it upstream (nothing is stored), then tries again and allows it.
    """
    denied = browser.submit(upstream_consent_to_connect(browser, upstream, here))  # Deny: no `allow`
    assert denied.status_code == 200
    assert denied.url == f"{here}/accounts/connections"
    assert "You did not allow it at Upstream Latch; nothing was changed." in denied.text
    assert not Connection.objects.exists()

    consent = upstream_consent_to_connect(browser, upstream, here)
    connections = browser.submit(consent, button=("allow", "true"))
    assert connections.status_code == 200
    assert connections.url == f"{here}/accounts/connections"
    # The same upstream account as the member signs in with (step a), named on the page.
    assert "Your Upstream Latch account Grace Hopper (grace@example.org) is connected." in connections.text
    assert "See the activities" in connections.text
    connection = Connection.objects.get(user=member, provider=provider)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.subject == upstream.member_sub
    assert set(connection.scopes) == {"openid", "email", "profile", API_SCOPE, "offline_access"}
    access, refresh_token = unseal(connection, "access_token"), unseal(connection, "refresh_token")
    for stored, plain in ((connection.access_token, access), (connection.refresh_token, refresh_token)):
        assert stored.startswith("v1:")
        assert plain
        assert plain not in stored
    # What is stored decrypts to tokens the upstream itself recognises as this member's.
    assert upstream.introspect(access)["sub"] == upstream.member_sub
    assert upstream.introspect(refresh_token, "refresh_token")["active"] is True
    assert connection.expires_at is not None
    assert timedelta(seconds=ACCESS_TOKEN_SECONDS - 30) < connection.expires_at - timezone.now()


def upstream_consent_to_connect(browser: Browser, upstream: Upstream, here: str) -> requests.Response:
    start = browser.get(
        f"{here}/accounts/connections/{SLUG}/connect",
        params={"scope": f"{API_SCOPE} offline_access"},
        follow=False,
    )
    assert start.status_code == 302
    asked = query(start.headers["Location"])
    assert asked["scope"].split() == ["openid", "email", "profile", API_SCOPE, "offline_access"]
    consent = browser.get(start.headers["Location"])  # signed in upstream since step a
    assert consent.status_code == 200
    assert consent.url.startswith(f"{upstream.url}/oauth/authorize?")
    asked_now, allowed_before = consent.text.split("Already allowed")
    assert f'<code class="scope-name">{API_SCOPE}</code>' in asked_now
    assert '<code class="scope-name">offline_access</code>' in asked_now
    assert '<code class="scope-name">email</code>' in allowed_before
    assert '<code class="scope-name">email</code>' not in asked_now
    return consent


@dataclass
class AppToken:
    """An app's call to the vault: its bearer token at this Latch, and the upstream token it got."""

    vault_url: str
    bearer: str
    access_token: str
    member: object

    def ask(self) -> requests.Response:
        return requests.post(
            self.vault_url,
            json={"scopes": [API_SCOPE]},
            headers={"Authorization": f"Bearer {self.bearer}"},
            timeout=30,
        )


def assert_works_upstream(upstream: Upstream, token: str) -> None:
    """The token is the member's at the upstream and does what the app declared, and nothing more."""
    api = upstream.get("/api/v1/activities", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200, api.text
    introspected = upstream.introspect(token)
    assert introspected["active"] is True
    assert introspected["sub"] == upstream.member_sub
    assert introspected["client_id"] == upstream.client_id
    assert set(introspected["scope"].split()) == {API_SCOPE, "offline_access"}
    # The member granted openid, email and profile too; the app declared none of them.
    userinfo = upstream.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code in (401, 403), userinfo.text


def assert_dead_upstream(upstream: Upstream, token: str, hint: str = "access_token") -> None:
    assert upstream.introspect(token, hint) == {"active": False}
    if hint == "access_token":
        userinfo = upstream.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert userinfo.status_code == 401


def app_gets_a_token(upstream: Upstream, provider, member, here: str) -> AppToken:
    """c. An app acting for the member gets an upstream access token from the vault, for its scope only."""
    application = ApplicationFactory(name="Calendar app")
    RequirementFactory(application=application, provider=provider, scopes=[API_SCOPE])
    bearer = issue_token("connections", user=member, application=application)
    token = AppToken(f"{here}/api/v1/connections/{SLUG}/token", bearer, "", member)
    response = token.ask()
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_at", "scopes"}  # never a refresh token
    assert body["token_type"] == "Bearer"
    assert body["scopes"] == [API_SCOPE, "offline_access"]  # which grants no access of its own
    connection = Connection.objects.get(user=member, provider=provider)
    assert body["access_token"] != unseal(connection, "access_token")  # not the connection's own
    assert unseal(ScopedToken.objects.get(connection=connection), "access_token") == body["access_token"]
    assert_works_upstream(upstream, body["access_token"])
    token.access_token = body["access_token"]
    return token


def refresh(upstream: Upstream, token: AppToken) -> AppToken:
    """d. The narrowed token expires: the vault narrows again upstream; the upstream rotates both tokens."""
    connection = Connection.objects.get(user=token.member, provider_id=SLUG)
    old_refresh = unseal(connection, "refresh_token")
    ScopedToken.objects.filter(connection=connection).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = token.ask()
    assert response.status_code == 200, response.text
    new = response.json()["access_token"]
    assert new != token.access_token
    connection.refresh_from_db()
    scoped = ScopedToken.objects.get(connection=connection)
    assert scoped.expires_at > timezone.now() + timedelta(seconds=ACCESS_TOKEN_SECONDS - 30)
    new_refresh = unseal(connection, "refresh_token")
    assert new_refresh != old_refresh
    assert_dead_upstream(upstream, token.access_token)
    assert_dead_upstream(upstream, old_refresh, "refresh_token")
    assert_works_upstream(upstream, new)
    # Not expiring any more: the next request gets the same token without going upstream.
    again = token.ask()
    assert again.status_code == 200
    assert again.json()["access_token"] == new
    token.access_token = new
    return token


def refresh_after_narrowing(upstream: Upstream, provider, member, here: str) -> None:
    """d. The connection's own token, refreshed after a narrowing, carries every scope the member granted.

    RFC 6749 §6: the refresh token a narrowing refresh returns keeps the scope originally granted,
    so a refresh without `scope` is not narrowed. (An upstream narrowing it would shrink the
    connection's scopes, and every app needing more would send the member to connect again.)
    """
    connection = Connection.objects.get(user=member, provider=provider)
    granted = set(connection.scopes)
    refresh_token = unseal(connection, "refresh_token")  # the one the narrowing refresh returned
    assert set(upstream.introspect(refresh_token, "refresh_token")["scope"].split()) == granted
    application = ApplicationFactory(name="Profile app")
    declared = sorted(granted - {"offline_access"})
    RequirementFactory(application=application, provider=provider, scopes=declared)
    bearer = issue_token("connections", user=member, application=application)
    Connection.objects.filter(pk=connection.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = requests.post(
        f"{here}/api/v1/connections/{SLUG}/token",
        json={"scopes": declared},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    connection.refresh_from_db()
    assert unseal(connection, "refresh_token") != refresh_token  # refreshed upstream, not reused
    assert set(connection.scopes) == granted
    assert set(upstream.introspect(response.json()["access_token"])["scope"].split()) == granted


def disconnect(browser: Browser, upstream: Upstream, provider, member, here: str, token: AppToken) -> None:
    """e. The member disconnects: Latch revokes the tokens upstream and forgets them."""
    connection = Connection.objects.get(user=member, provider=provider)
    refresh_token = unseal(connection, "refresh_token")
    assert upstream.introspect(refresh_token, "refresh_token")["active"] is True  # until the member acts
    page = browser.get(f"{here}/accounts/connections")
    assert page.status_code == 200
    assert "Calendar app" not in page.text  # the member never allowed it here (no consent)

    after = browser.submit(page, action=f"/accounts/connections/{SLUG}/disconnect")
    assert after.status_code == 200
    assert after.url == f"{here}/accounts/connections"
    assert "Upstream Latch is disconnected" in after.text
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert connection.access_token == connection.refresh_token == ""
    revoked = AuditEvent.objects.get(event=AuditEvent.Event.CONNECTION_REVOKED)
    assert revoked.details["upstream"] == "revoked at Upstream Latch"
    assert_dead_upstream(upstream, token.access_token)
    assert_dead_upstream(upstream, refresh_token, "refresh_token")
    refused = upstream.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(upstream.client_id, upstream.client_secret),
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"

    vault = token.ask()
    assert vault.status_code == 409
    assert vault.json()["reason"] == "revoked"
    assert vault.json()["connect_url"].startswith(f"{here}/accounts/connections/{SLUG}/connect?")
