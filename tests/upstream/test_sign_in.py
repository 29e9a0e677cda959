"""Signing in to Latch with an upstream provider: state, nonce, PKCE, the id_token, linking, failures."""

import base64
import hashlib
import time
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from joserfc.jwk import RSAKey

from apps.accounts.mfa import authentication_from_records
from apps.accounts.models import HashedKeySession
from apps.audit.models import AuditEvent
from apps.core.fields import Digest, sha256_hex
from apps.upstream import flow
from apps.upstream.models import UpstreamIdentity, UpstreamProvider
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.mfa import sign_in as sign_in_with_password
from tests.oauth import flow as oauth_flow
from tests.oauth.factories import ApplicationFactory, pkce_pair
from tests.oauth.test_fresh_sign_in import authorize_path, login_next
from tests.oauth.test_id_token import verify
from tests.upstream.factories import UpstreamIdentityFactory, UpstreamProviderFactory
from tests.upstream.idp import FakeIdP, signing_key

pytestmark = pytest.mark.django_db

Method = UpstreamProvider.AuthMethod


@pytest.fixture
def provider():
    return UpstreamProviderFactory(allow_sign_in=True, default_scopes=["openid"])


@pytest.fixture
def idp(upstream, provider):
    return FakeIdP(upstream, provider)


@pytest.fixture
def browser():
    return Client()


def login_path(provider, **query) -> str:
    path = f"/accounts/upstream/{provider.slug}/login"
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def signed_in_user_id(browser) -> str | None:
    return browser.session.get(SESSION_KEY)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def failures(reason_prefix: str = "") -> list[AuditEvent]:
    return [
        event
        for event in AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_FAILED)
        if event.details.get("reason", "").startswith(reason_prefix)
    ]


def form_of(call) -> dict[str, list[str]]:
    body = call.request.body
    return parse_qs(body.decode() if isinstance(body, bytes) else body or "")


def sign_in(browser, idp, **claims):
    start = idp.start(browser, login_path(idp.provider))
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce, **claims))
    return start, idp.callback(browser, start)


# --- The way there --------------------------------------------------------------------------------


def test_the_login_page_offers_each_enabled_sign_in_provider(browser, provider):
    UpstreamProviderFactory(name="Connect only", allow_sign_in=False)
    UpstreamProviderFactory(name="Switched off", allow_sign_in=True, enabled=False)

    page = browser.get("/accounts/login/?next=/oauth/authorize%3Fclient_id%3Dx").content.decode()

    assert f"Sign in with {provider.name}" in page
    assert f"/accounts/upstream/{provider.slug}/login?next=/oauth/authorize%3Fclient_id%3Dx" in page
    assert "Connect only" not in page
    assert "Switched off" not in page


def test_sign_in_sends_state_nonce_and_pkce_s256(browser, idp, provider):
    start = idp.start(browser, login_path(provider))

    assert start.params["response_type"] == "code"
    assert start.params["client_id"] == provider.client_id
    assert start.params["redirect_uri"] == f"http://testserver/accounts/upstream/{provider.slug}/callback"
    assert start.params["scope"] == "openid"
    assert len(start.state) >= 32
    assert len(start.nonce) >= 32
    assert start.params["code_challenge_method"] == "S256"
    assert start.params["code_challenge"]


def test_the_pkce_verifier_goes_to_the_token_endpoint(browser, idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")

    start, _ = sign_in(browser, idp)

    sent = form_of(idp.token_requests()[0])
    verifier = sent["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == start.params["code_challenge"]
    assert sent["code"] == ["upstream-code-1"]
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["redirect_uri"] == [start.params["redirect_uri"]]


def test_without_pkce_no_challenge_and_no_verifier(browser, upstream):
    provider = UpstreamProviderFactory(allow_sign_in=True, use_pkce=False)
    idp = FakeIdP(upstream, provider)
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")

    start, response = sign_in(browser, idp)

    assert "code_challenge" not in start.params
    assert "code_verifier" not in form_of(idp.token_requests()[0])
    assert response.status_code == 302


@pytest.mark.parametrize("method", list(Method))
def test_each_token_endpoint_authentication_mode_on_the_wire(browser, upstream, method):
    provider = UpstreamProviderFactory(allow_sign_in=True, token_endpoint_auth_method=method, secret="s3cr3t")
    idp = FakeIdP(upstream, provider)
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")

    sign_in(browser, idp)

    request = idp.token_requests()[0].request
    query = parse_qs(urlsplit(request.url).query)
    body = form_of(idp.token_requests()[0])
    if method == Method.CLIENT_SECRET_BASIC:
        expected = base64.b64encode(f"{provider.client_id}:s3cr3t".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected}"
        assert "client_secret" not in body
        assert not query
    elif method == Method.CLIENT_SECRET_POST:
        assert "Authorization" not in request.headers
        assert body["client_secret"] == ["s3cr3t"]
        assert not query
    else:
        assert "Authorization" not in request.headers
        assert "client_secret" not in body
        assert query == {"client_id": [provider.client_id], "client_secret": ["s3cr3t"]}


# --- Signing in -----------------------------------------------------------------------------------


def test_a_linked_member_is_signed_in_and_it_is_audited(browser, idp, provider):
    identity = UpstreamIdentityFactory(provider=provider, subject="upstream-alice")

    _, response = sign_in(browser, idp)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    assert signed_in_user_id(browser) == str(identity.user.pk)
    identity.refresh_from_db()
    assert identity.last_used_at is not None
    events = set(AuditEvent.objects.filter(actor_user=identity.user).values_list("event", flat=True))
    assert {AuditEvent.Event.LOGIN_SUCCEEDED, AuditEvent.Event.UPSTREAM_SIGN_IN} <= events


def test_an_upstream_sign_in_claims_no_amr_and_the_password_level(browser, idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")

    sign_in(browser, idp)

    records = browser.session["account_authentication_methods"]
    assert [entry["method"] for entry in records] == ["upstream"]
    authentication = authentication_from_records(records)
    assert authentication.amr == ()
    assert not authentication.multi_factor


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/accounts/apps/", "/accounts/apps/"),
        ("https://evil.example/", "/accounts/"),
        ("//evil.example/", "/accounts/"),
    ],
)
def test_sign_in_goes_back_to_next_on_this_site_only(browser, idp, provider, next_url, location):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    start = idp.start(browser, login_path(provider, next=next_url))
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce))

    response = idp.callback(browser, start)

    assert response["Location"] == location


def test_a_member_with_two_factors_is_asked_for_the_second(browser, idp, provider):
    identity = UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    Authenticator.objects.create(user=identity.user, type=Authenticator.Type.TOTP, data={"secret": "x"})

    _, response = sign_in(browser, idp)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/authenticate")
    assert signed_in_user_id(browser) is None


def test_a_provider_without_id_tokens_is_read_through_userinfo(browser, upstream):
    provider = UpstreamProviderFactory(allow_sign_in=True, default_scopes=["calendar.read"])
    UpstreamProvider.objects.filter(pk=provider.pk).update(issuer="", jwks_uri="")  # plain OAuth 2.0
    provider.refresh_from_db()
    idp = FakeIdP.__new__(FakeIdP)
    idp.mock, idp.provider = upstream, provider
    identity = UpstreamIdentityFactory(provider=provider, subject="4711")
    upstream.get(provider.userinfo_endpoint, json={"id": 4711, "login": "alice"})

    start = idp.start(browser, login_path(provider))
    idp.answer_token()
    response = idp.callback(browser, start)

    assert response["Location"] == "/accounts/"
    assert signed_in_user_id(browser) == str(identity.user.pk)
    userinfo = next(call for call in upstream.calls if call.request.url == provider.userinfo_endpoint)
    assert userinfo.request.headers["Authorization"] == "Bearer up-access-1"


# --- Linking by a verified email ------------------------------------------------------------------


def test_a_verified_email_links_after_the_latch_password(browser, idp, provider):
    member = UserFactory(email="alice@example.org")

    _, response = sign_in(browser, idp, email="Alice@example.org", email_verified=True)
    assert response["Location"] == f"/accounts/upstream/{provider.slug}/link/confirm"
    assert signed_in_user_id(browser) is None
    assert not UpstreamIdentity.objects.exists()
    page = browser.get(response["Location"])
    assert "alice@example.org" in page.content.decode()

    wrong = browser.post(response["Location"], {"password": "not it"})
    assert wrong.status_code == 200
    assert "4 tries left" in wrong.content.decode()
    assert not UpstreamIdentity.objects.exists()

    right = browser.post(response["Location"], {"password": PASSWORD})

    assert right.status_code == 302
    assert signed_in_user_id(browser) == str(member.pk)
    assert UpstreamIdentity.objects.get(provider=provider, subject="upstream-alice").user == member
    linked = AuditEvent.objects.get(event=AuditEvent.Event.UPSTREAM_LINKED)
    assert linked.details == {"provider": provider.slug, "how": "password_confirmed"}
    methods = [entry["method"] for entry in browser.session["account_authentication_methods"]]
    assert methods == ["upstream", "password"]


def test_too_many_wrong_passwords_end_the_offer(browser, idp, provider):
    UserFactory(email="alice@example.org")
    _, response = sign_in(browser, idp, email="alice@example.org", email_verified=True)

    for _ in range(5):
        last = browser.post(response["Location"], {"password": "not it"})

    assert last["Location"] == "/accounts/login/"
    assert failures("password_not_confirmed")
    assert browser.post(response["Location"], {"password": PASSWORD})["Location"] == "/accounts/login/"
    assert not UpstreamIdentity.objects.exists()


@pytest.mark.parametrize("verified", [False, "false", None])
def test_an_unverified_email_never_links(browser, idp, provider, verified):
    UserFactory(email="alice@example.org")

    _, response = sign_in(browser, idp, email="alice@example.org", email_verified=verified)

    assert response["Location"] == "/accounts/login/"
    assert "There is no Latch account for this" in messages_of(response)[0]
    assert not UpstreamIdentity.objects.exists()
    assert failures("email_not_verified")


def test_an_unknown_email_has_no_account(browser, idp):
    _, response = sign_in(browser, idp, email="nobody@example.org", email_verified=True)

    assert response["Location"] == "/accounts/login/"
    assert "There is no Latch account for this" in messages_of(response)[0]
    assert failures("no_account")


def test_a_trusted_provider_links_a_verified_email_at_once(browser, upstream):
    provider = UpstreamProviderFactory(allow_sign_in=True, trust_email=True)
    idp = FakeIdP(upstream, provider)
    member = UserFactory(email="alice@example.org")

    _, response = sign_in(browser, idp, email="alice@example.org", email_verified=True)

    assert response["Location"] == "/accounts/"
    assert signed_in_user_id(browser) == str(member.pk)
    assert UpstreamIdentity.objects.get(provider=provider).user == member
    assert AuditEvent.objects.get(event=AuditEvent.Event.UPSTREAM_LINKED).details["how"] == "trusted_email"


def test_a_link_is_by_subject_not_by_email(browser, idp, provider):
    owner = UpstreamIdentityFactory(provider=provider, subject="upstream-alice").user
    UserFactory(email="alice@example.org")

    sign_in(browser, idp, email="alice@example.org", email_verified=True)

    assert signed_in_user_id(browser) == str(owner.pk)


# --- Linking and unlinking on the account page ----------------------------------------------------


def test_a_signed_in_member_links_a_provider(browser, idp, provider):
    member = UserFactory()
    browser.force_login(member)

    start = idp.start(browser, f"/accounts/upstream/{provider.slug}/link", method="post")
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce, sub="member-at-idp"))
    response = idp.callback(browser, start)

    assert response["Location"] == "/accounts/"
    assert UpstreamIdentity.objects.get(provider=provider, subject="member-at-idp").user == member
    assert "Unlink" in browser.get("/accounts/").content.decode()


def test_linking_an_identity_that_is_another_members_is_refused(browser, idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="taken")
    member = UserFactory()
    browser.force_login(member)

    start = idp.start(browser, f"/accounts/upstream/{provider.slug}/link", method="post")
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce, sub="taken"))
    response = idp.callback(browser, start)

    assert response["Location"] == "/accounts/"
    assert "already linked to another Latch account" in messages_of(response)[0]
    assert not UpstreamIdentity.objects.filter(user=member).exists()
    assert failures("linked_to_another_account")


def test_a_member_unlinks_a_provider(browser, provider):
    identity = UpstreamIdentityFactory(provider=provider)
    browser.force_login(identity.user)

    response = browser.post(f"/accounts/upstream/{provider.slug}/unlink")

    assert response["Location"] == "/accounts/"
    assert not UpstreamIdentity.objects.exists()
    assert AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_UNLINKED).count() == 1


def test_the_only_way_to_sign_in_is_not_unlinked(browser, provider):
    identity = UpstreamIdentityFactory(provider=provider)
    identity.user.set_unusable_password()
    identity.user.save()
    browser.force_login(identity.user)

    response = browser.post(f"/accounts/upstream/{provider.slug}/unlink")

    assert "only way to sign in" in messages_of(response)[0]
    assert UpstreamIdentity.objects.exists()


# --- Every failure ends on the login page, audited, and changes nothing ---------------------------


def assert_failed_sign_in(browser, response, reason: str, message: str) -> None:
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert signed_in_user_id(browser) is None
    assert any(message in text for text in messages_of(response)), messages_of(response)
    assert failures(reason), list(AuditEvent.objects.values_list("event", "details"))


def test_denied_consent_upstream(browser, idp, provider):
    start = idp.start(browser, login_path(provider))

    response = idp.callback(browser, start, code=None, error="access_denied")

    assert_failed_sign_in(browser, response, "access_denied", "You did not allow it")
    assert not idp.token_requests()


def test_an_upstream_error_response(browser, idp, provider):
    start = idp.start(browser, login_path(provider))

    response = idp.callback(browser, start, code=None, error="server_error")

    assert_failed_sign_in(browser, response, "upstream_error:server_error", "refused the request")


def test_a_replayed_state_is_refused(browser, idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    start, _ = sign_in(browser, idp)
    browser.logout()

    response = idp.callback(browser, start)

    assert_failed_sign_in(browser, response, "unknown_state", "not valid in this browser")
    assert len(idp.token_requests()) == 1


def test_a_state_from_another_browser_is_refused(idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    start = idp.start(Client(), login_path(provider))
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce))
    other = Client()

    response = idp.callback(other, start)

    assert_failed_sign_in(other, response, "unknown_state", "not valid in this browser")
    assert not idp.token_requests()


@pytest.mark.parametrize("state", [None, "", "made-up"])
def test_a_missing_or_made_up_state_is_refused(browser, idp, provider, state):
    idp.start(browser, login_path(provider))

    response = idp.callback(browser, state=state, code="c")

    assert_failed_sign_in(browser, response, "unknown_state", "not valid in this browser")


def test_an_expired_state_is_refused(browser, idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    start = idp.start(browser, login_path(provider))
    session = browser.session
    session[flow.PENDING][start.state]["created"] -= flow.STATE_MAX_AGE + 1
    session.save()

    response = idp.callback(browser, start)

    assert_failed_sign_in(browser, response, "state_expired", "took too long")
    assert not idp.token_requests()


def test_a_state_for_another_provider_is_refused(browser, idp, provider, upstream):
    other = UpstreamProviderFactory(allow_sign_in=True)
    start = idp.start(browser, login_path(provider))

    response = browser.get(f"/accounts/upstream/{other.slug}/callback", {"state": start.state, "code": "c"})

    assert_failed_sign_in(browser, response, "state_for_another_provider", "wrong provider")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"nonce": "another-nonce"}, "bad_id_token"),
        ({"aud": "someone-else"}, "bad_id_token"),
        ({"iss": "https://evil.example"}, "bad_id_token"),
        ({"exp": 1_000_000}, "bad_id_token"),
        ({"sub": None}, "bad_id_token"),
        ({"key": "other"}, "bad_id_token"),
    ],
    ids=["nonce", "aud", "iss", "exp", "no-sub", "signature"],
)
def test_a_bad_id_token_is_refused(browser, idp, provider, claims, reason):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    start = idp.start(browser, login_path(provider))
    claims = dict(claims)
    if claims.pop("key", None):
        claims["key"] = RSAKey.generate_key(
            2048, parameters={"kid": signing_key().kid}
        )  # same kid, not the key
    claims.setdefault("nonce", start.nonce)
    idp.answer_token(id_token=idp.id_token(**claims))

    response = idp.callback(browser, start)

    assert_failed_sign_in(browser, response, reason, "could not be verified")
    assert not UpstreamIdentity.objects.filter(last_used_at__isnull=False).exists()


def test_no_id_token_from_an_openid_provider_is_refused(browser, idp, provider):
    start = idp.start(browser, login_path(provider))
    idp.answer_token()

    response = idp.callback(browser, start)

    assert_failed_sign_in(browser, response, "no_id_token", "sent no id_token")


@pytest.mark.parametrize(
    ("answer", "reason", "message"),
    [
        (
            {"status": 400, "json": {"error": "invalid_grant"}},
            "token_error:invalid_grant",
            "refused to complete",
        ),
        ({"status": 503, "body": "maintenance"}, "unreachable:HTTPError", "could not be reached"),
        ({"body": requests.Timeout()}, "timeout", "did not answer in time"),
        ({"body": requests.ConnectionError()}, "unreachable:ConnectionError", "could not be reached"),
    ],
    ids=["error-response", "5xx", "timeout", "unreachable"],
)
def test_a_failing_token_endpoint(browser, idp, provider, answer, reason, message):
    start = idp.start(browser, login_path(provider))
    idp.answer_token(**answer)

    response = idp.callback(browser, start)

    assert_failed_sign_in(browser, response, reason, message)


def test_unreachable_signing_keys(browser, upstream, provider):
    idp = FakeIdP(upstream, provider)
    upstream.replace("GET", provider.jwks_uri, body=requests.ConnectionError())
    start = idp.start(browser, login_path(provider))
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce))

    response = idp.callback(browser, start)

    assert_failed_sign_in(browser, response, "jwks_unavailable", "signing keys could not be read")


def test_a_provider_not_for_sign_in_has_no_sign_in(browser):
    provider = UpstreamProviderFactory(allow_sign_in=False)

    assert browser.get(login_path(provider)).status_code == 404


def test_a_sign_in_finished_after_signing_in_otherwise_is_refused(browser, idp, provider):
    UpstreamIdentityFactory(provider=provider, subject="upstream-alice")
    start = idp.start(browser, login_path(provider))
    member = UserFactory()
    browser.force_login(member)  # with the password, in another tab, meanwhile
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce))

    response = idp.callback(browser, start)

    assert response["Location"] == "/accounts/login/"
    assert signed_in_user_id(browser) == str(member.pk)
    assert failures("signed_in_member_changed")
    assert not idp.token_requests()


def test_a_signed_in_member_signing_in_with_a_provider_is_authenticated_there_again(browser, idp, provider):
    """As the password form on the sign-in page: a new sign-in, not "signed in already, carry on"
    (which left a member sent for a fresh sign-in no way to give one with a provider)."""
    browser.force_login(UserFactory())

    start = idp.start(browser, login_path(provider, next="/accounts/apps/"))

    assert start.params["prompt"] == "login"
    assert start.params["max_age"] == "0"
    assert flow.PENDING in browser.session


# --- A fresh sign-in (prompt=login, max_age) ------------------------------------------------------
# The sign-in page asks a signed-in member for one (apps/accounts/services.py fresh_sign_in_request);
# its provider buttons must be able to give it, as its password form does.

SUBJECT = "upstream-ada"


@pytest.fixture
def application():
    return ApplicationFactory()


def password_browser(member, application) -> Client:
    """The member signed in with their password, and allowed the app before."""
    browser = Client()
    assert sign_in_with_password(browser, member).status_code == 302
    page = oauth_flow.consent_page(browser, application, "openid", pkce_pair()[1])
    data = {key: value for key, value in page.context["form"].initial.items() if value is not None}
    assert "code" in oauth_flow.redirect_params(browser.post("/oauth/authorize", {**data, "allow": "true"}))
    return browser


@pytest.fixture
def stale_browser(member, application) -> Client:
    """The member signed in with their password an hour ago, and allowed the app before."""
    browser = password_browser(member, application)
    oauth_flow.set_signed_in_at(browser, timezone.now() - timedelta(hours=1))
    return browser


def upstream_sign_in_path(provider, next_url: str) -> str:
    """The sign-in page's "Sign in with <provider>" button for `next_url`."""
    return f"/accounts/upstream/{provider.slug}/login?next={quote(next_url)}"


def test_an_upstream_sign_in_satisfies_the_pending_fresh_sign_in(
    stale_browser, idp, provider, member, application
):
    UpstreamIdentityFactory(provider=provider, subject=SUBJECT, user=member)
    old_key = stale_browser.session.session_key
    verifier, challenge = pkce_pair()
    next_url = login_next(
        stale_browser.get(authorize_path(application, (verifier, challenge), prompt="login"))
    )
    before = int(time.time())

    start = idp.start(stale_browser, upstream_sign_in_path(provider, next_url))
    assert start.params["prompt"] == "login"
    assert start.params["max_age"] == "0"
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce, sub=SUBJECT, auth_time=int(time.time())))
    response = idp.callback(stale_browser, start)

    assert response["Location"] == next_url
    assert stale_browser.session.session_key != old_key
    assert not HashedKeySession.objects.filter(session_key=Digest(sha256_hex(old_key))).exists()
    code = oauth_flow.redirect_params(stale_browser.get(next_url))["code"]
    body = oauth_flow.redeem(Client(), application, code, verifier).json()
    assert verify(body["id_token"], application, nonce=None)["auth_time"] >= before


def test_the_new_session_keeps_only_the_upstream_sign_in(idp, provider, member, application):
    UpstreamIdentityFactory(provider=provider, subject=SUBJECT, user=member)
    browser = password_browser(member, application)
    next_url = login_next(browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    start = idp.start(browser, upstream_sign_in_path(provider, next_url))
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce, sub=SUBJECT, auth_time=int(time.time())))
    idp.callback(browser, start)

    request = browser.get("/accounts/").wsgi_request
    assert [entry["method"] for entry in get_authentication_records(request, member)] == ["upstream"]


def test_an_upstream_answer_for_another_member_replaces_the_session(
    stale_browser, idp, provider, member, application
):
    other = UserFactory(email="grace@example.org")
    UpstreamIdentityFactory(provider=provider, subject="upstream-grace", user=other)
    next_url = login_next(stale_browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    start = idp.start(stale_browser, upstream_sign_in_path(provider, next_url))
    idp.answer_token(
        id_token=idp.id_token(nonce=start.nonce, sub="upstream-grace", auth_time=int(time.time()))
    )
    idp.callback(stale_browser, start)

    assert signed_in_user_id(stale_browser) == str(other.pk)
    assert not HashedKeySession.objects.filter(user=member).exists()
    page = stale_browser.get(next_url)
    assert page.status_code == 200  # Grace has not allowed the app: her own consent page
    assert page.context["user"] == other


@pytest.mark.parametrize("seconds_ago", [None, 3600, 86400], ids=["no auth_time", "an hour ago", "a day ago"])
def test_a_provider_reusing_an_old_authentication_does_not_count_as_a_fresh_sign_in(
    stale_browser, idp, provider, member, application, seconds_ago
):
    UpstreamIdentityFactory(provider=provider, subject=SUBJECT, user=member)
    old_key = stale_browser.session.session_key
    next_url = login_next(stale_browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    start = idp.start(stale_browser, upstream_sign_in_path(provider, next_url))
    claimed = None if seconds_ago is None else int(time.time()) - seconds_ago
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce, sub=SUBJECT, auth_time=claimed))
    response = idp.callback(stale_browser, start)

    assert response["Location"] == "/accounts/login/"
    assert stale_browser.session.session_key == old_key  # signed in as before, not again
    assert failures("stale_authentication")
    assert login_next(stale_browser.get(next_url)) == next_url  # still asked to sign in again


def test_a_provider_without_id_tokens_is_not_sent_oidc_parameters(stale_browser):
    plain = UpstreamProviderFactory(allow_sign_in=True, default_scopes=["calendar.read"], jwks_uri="")

    response = stale_browser.get(upstream_sign_in_path(plain, "/accounts/"))

    assert response["Location"].startswith(plain.authorization_endpoint)
    params = parse_qs(urlsplit(response["Location"]).query)
    assert "prompt" not in params
    assert "max_age" not in params
