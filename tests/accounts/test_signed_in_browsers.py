from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.accounts import sessions
from apps.accounts.models import HashedKeySession
from apps.accounts.useragents import describe
from apps.audit.models import AuditEvent
from apps.core.fields import sha256_hex
from apps.oauth.models import Consent, RefreshToken
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)


def signed_in(user, user_agent: str = FIREFOX_ON_LINUX, ip: str = "192.0.2.10") -> Client:
    """A browser that signed in through the real sign-in form."""
    browser = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = browser.post(
        "/accounts/login/", {"login": user.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302, response.content
    return browser


def session_row(browser: Client) -> HashedKeySession:
    return HashedKeySession.objects.get(session_key=browser.cookies[settings.SESSION_COOKIE_NAME].value)


@pytest.fixture
def member():
    return member_with_login()


def test_signing_in_records_the_browser_the_address_and_the_time(member):
    before = timezone.now()

    row = session_row(signed_in(member.user, SAFARI_ON_IPHONE, "192.0.2.44"))

    assert row.user == member.user
    assert row.ip == "192.0.2.44"
    assert row.browser == "Safari on iPhone"
    assert row.signed_in_at >= before
    assert row.last_seen_at >= before


def test_the_account_page_lists_each_signed_in_browser_and_marks_this_one(member):
    laptop = signed_in(member.user, FIREFOX_ON_LINUX, "192.0.2.10")
    signed_in(member.user, SAFARI_ON_IPHONE, "198.51.100.7")
    signed_in(member_with_login().user, SAFARI_ON_IPHONE, "203.0.113.99")

    html = laptop.get("/accounts/").content.decode()

    section = html.split("Where you are signed in")[1].split("Recent activity")[0]
    assert "Firefox on Linux" in section
    assert "Safari on iPhone" in section
    assert "198.51.100.7" in section
    assert "203.0.113.99" not in section  # someone else's browser
    assert section.count("This browser") == 1
    assert section.count('name="session"') == 1  # only the other browser can be ended here


def test_ending_another_browser_signs_it_out_and_keeps_this_one(member):
    laptop = signed_in(member.user)
    phone = signed_in(member.user, SAFARI_ON_IPHONE)

    response = laptop.post("/accounts/sessions/end", {"session": session_row(phone).session_key})

    assert response.status_code == 302
    assert phone.get("/accounts/").status_code == 302  # back to the sign-in page
    assert laptop.get("/accounts/").status_code == 200
    assert (
        AuditEvent.objects.filter(event=AuditEvent.Event.SESSION_ENDED, actor_user=member.user).count() == 1
    )


def test_a_member_cannot_end_someone_elses_session(member):
    laptop = signed_in(member.user)
    stranger = signed_in(member_with_login().user)

    laptop.post("/accounts/sessions/end", {"session": session_row(stranger).session_key})

    assert stranger.get("/accounts/").status_code == 200
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.SESSION_ENDED).exists()


@pytest.mark.parametrize("garbage", ["", "not-a-digest", "0" * 64, "x" * 5000])
def test_ending_an_unknown_session_changes_nothing(member, garbage):
    laptop = signed_in(member.user)
    phone = signed_in(member.user, SAFARI_ON_IPHONE)

    response = laptop.post("/accounts/sessions/end", {"session": garbage}, follow=True)

    assert "already signed out" in response.content.decode()
    assert phone.get("/accounts/").status_code == 200
    assert HashedKeySession.objects.filter(user=member.user).count() == 2


def test_the_session_key_itself_ends_nothing(member):
    """The page shows digests; the raw key of another browser (its cookie) is not an identifier here."""
    laptop = signed_in(member.user)
    phone = signed_in(member.user, SAFARI_ON_IPHONE)

    laptop.post("/accounts/sessions/end", {"session": phone.cookies[settings.SESSION_COOKIE_NAME].value})

    assert phone.get("/accounts/").status_code == 200


def test_this_browser_is_ended_by_signing_out_not_from_the_list(member):
    laptop = signed_in(member.user)

    laptop.post("/accounts/sessions/end", {"session": session_row(laptop).session_key})

    assert laptop.get("/accounts/").status_code == 200


def test_ending_a_session_needs_a_post_and_a_signed_in_member(member):
    laptop = signed_in(member.user)
    digest = session_row(laptop).session_key

    assert laptop.get("/accounts/sessions/end").status_code == 405
    assert Client().post("/accounts/sessions/end", {"session": digest}).status_code == 302
    assert laptop.get("/accounts/").status_code == 200


def test_ending_a_session_needs_the_csrf_token(member):
    laptop = signed_in(member.user)
    phone = signed_in(member.user, SAFARI_ON_IPHONE)
    laptop.handler.enforce_csrf_checks = True

    response = laptop.post("/accounts/sessions/end", {"session": session_row(phone).session_key})

    assert response.status_code == 403
    assert phone.get("/accounts/").status_code == 200


def test_signing_out_everywhere_ends_every_session_and_revokes_every_token(member):
    laptop = signed_in(member.user)
    phone = signed_in(member.user, SAFARI_ON_IPHONE)
    planner, shop = ApplicationFactory(), ApplicationFactory()
    planner_tokens = flow.obtain_tokens(member.user, planner, "openid member-read offline_access")
    shop_tokens = flow.obtain_tokens(member.user, shop, "member-read offline_access")
    bystander = member_with_login()
    bystander_tokens = flow.obtain_tokens(bystander.user, planner, "member-read offline_access")

    response = laptop.post("/accounts/sessions/end-all")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert laptop.get("/accounts/").status_code == 302
    assert phone.get("/accounts/").status_code == 302
    assert not HashedKeySession.objects.filter(user=member.user).exists()
    for application, tokens in ((planner, planner_tokens), (shop, shop_tokens)):
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
        assert Client().get("/api/v1/members/me", **bearer).status_code == 401
        assert flow.refresh(Client(), application, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(user=member.user, revoked__isnull=True).exists()
    # What the member allowed stays allowed, and nobody else is touched.
    assert Consent.objects.filter(user=member.user).count() == 2
    assert flow.refresh(Client(), planner, bystander_tokens["refresh_token"]).status_code == 200
    event = AuditEvent.objects.get(event=AuditEvent.Event.SIGNED_OUT_EVERYWHERE)
    assert event.actor_user == member.user
    assert event.details == {"revoked": 2}  # refresh tokens


def test_signing_out_everywhere_needs_a_post(member):
    laptop = signed_in(member.user)

    assert laptop.get("/accounts/sessions/end-all").status_code == 405
    assert laptop.get("/accounts/").status_code == 200


def test_last_seen_is_refreshed_after_a_while_not_on_every_request(member):
    laptop = signed_in(member.user)
    row = session_row(laptop)
    first_seen = row.last_seen_at

    laptop.get("/accounts/apps/")
    assert session_row(laptop).last_seen_at == first_seen

    long_ago = timezone.now() - timedelta(hours=1)
    session = laptop.session
    session[sessions.LAST_SEEN_AT] = long_ago.isoformat()
    session.save()
    laptop.get("/accounts/apps/", REMOTE_ADDR="198.51.100.23")

    refreshed = session_row(laptop)
    assert refreshed.last_seen_at > long_ago + timedelta(minutes=59)
    assert refreshed.ip == "198.51.100.23"


def test_the_list_shows_digests_not_session_keys(member):
    laptop = signed_in(member.user)
    phone = signed_in(member.user, SAFARI_ON_IPHONE)
    phone_key = phone.cookies[settings.SESSION_COOKIE_NAME].value

    html = laptop.get("/accounts/").content.decode()

    assert phone_key not in html
    assert sha256_hex(phone_key) in html


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (FIREFOX_ON_LINUX, "Firefox on Linux"),
        (SAFARI_ON_IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/140.0 Safari/537.36 Edg/140.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/140.0 Safari/537.36",
            "Chrome on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 Chrome/140.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "Unknown browser"),
        ("", "Unknown browser"),
    ],
)
def test_a_user_agent_is_described_in_plain_words(user_agent, label):
    assert describe(user_agent) == label


def test_signing_in_shows_no_second_signed_in_as_banner(member):
    browser = Client()

    response = browser.post(
        "/accounts/login/",
        {"login": member.user.email, "password": "correct horse battery staple"},
        follow=True,
    )

    assert "Successfully signed in" not in response.content.decode()


def test_the_sign_in_form_says_keep_me_signed_in():
    html = Client().get("/accounts/login/").content.decode()

    assert "Keep me signed in on this browser" in html
    assert "Remember Me" not in html


def test_a_browser_without_a_usable_address_is_listed_without_one(member):
    browser = Client(REMOTE_ADDR="")
    browser.force_login(member.user)

    assert browser.get("/accounts/").status_code == 200
    assert session_row(browser).ip is None
