"""The example relying party (examples/webapp) in Chromium, against Latch: the newcomer's first tour.

The app runs as its own process, as `make run` starts it, and talks to the live-server Latch over
HTTP: discovery, the code exchange with PKCE, the id_token check, API calls, refreshes,
revocation and RP-initiated logout are all real (tests/browser/webapp.py). The tests read Latch's
database for what the app cannot show: tokens issued, rotated and revoked, the enrolment stored.
"""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.activities.models import Participant
from apps.oauth import services
from apps.oauth.models import AccessToken, RefreshToken
from examples.webapp.tokens import SCOPES
from tests.activities.factories import ActivityFactory, ParticipantFactory
from tests.browser.test_consent_flow import sign_in
from tests.browser.webapp import WebApp, demo_web_spec
from tests.members.factories import member_with_login

pytestmark = pytest.mark.browser

APP_NAME = demo_web_spec()["name"]  # "Activity planner (demo web app)", as Latch shows it


@pytest.fixture
def member(latch_for_webapp):
    return member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org")


@pytest.fixture
def activities(latch_for_webapp):
    now = timezone.now()
    return [
        ActivityFactory(name="Board game night", starts_at=now + datetime.timedelta(days=3)),
        ActivityFactory(name="Canal clean-up", starts_at=now + datetime.timedelta(days=10)),
    ]


def tokens_of(member, application):
    return (
        AccessToken.objects.filter(user=member.user, application=application),
        RefreshToken.objects.filter(user=member.user, application=application),
    )


def start_sign_in(page: Page, webapp: WebApp, member) -> None:
    """From the app's login page through Latch's sign-in page to its consent page."""
    page.goto(f"{webapp.url}/")
    page.get_by_role("button", name="Sign in with Latch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Latch")
    sign_in(page, member)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{APP_NAME} wants to access your Latch account"
    )


def sign_in_to_app(page: Page, webapp: WebApp, member) -> None:
    start_sign_in(page, webapp, member)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Ada Lovelace")


def expect_login_page(page: Page, webapp: WebApp, message: str | None = None) -> None:
    expect(page).to_have_url(f"{webapp.url}/")
    expect(page.get_by_role("button", name="Sign in with Latch")).to_be_visible()
    if message is not None:
        expect(page.get_by_role("alert")).to_have_text(message)


def activity_item(page: Page, name: str):
    return page.get_by_role("list", name="Upcoming activities").get_by_role("listitem", name=name)


def test_signing_in_with_latch_shows_the_members_name_and_upcoming_activities(
    page, webapp, latch_for_webapp, member, activities, screenshot
):
    page.goto(f"{webapp.url}/")
    screenshot("webapp-login")
    start_sign_in(page, webapp, member)
    consent = page.get_by_role("list", name=f"This will allow {APP_NAME} to:")
    expect(consent.get_by_role("listitem")).to_have_count(len(SCOPES.split()))
    assert sorted(consent.locator("code").all_inner_texts()) == sorted(SCOPES.split())
    page.get_by_role("button", name="Allow").click()

    expect(page).to_have_url(f"{webapp.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Ada Lovelace")
    expect(page.get_by_text("Signed in with Latch as ada@example.org.")).to_be_visible()
    expect(page.get_by_role("list", name="Upcoming activities").get_by_role("heading")).to_have_text(
        ["Board game night", "Canal clean-up"]
    )
    screenshot("webapp-home")
    access, refresh = tokens_of(member, latch_for_webapp)
    assert access.count() == 1
    assert refresh.filter(revoked=None).count() == 1


def test_enrolling_from_the_app_shows_enrolled_and_stores_the_participant_in_latch(
    page, webapp, latch_for_webapp, member, activities, screenshot
):
    sign_in_to_app(page, webapp, member)

    page.get_by_role("button", name="Enrol in Canal clean-up").click()

    expect(page.get_by_role("status")).to_have_text("You are enrolled.")
    screenshot("webapp-enrolled")
    expect(activity_item(page, "Canal clean-up").get_by_text("Enrolled", exact=True)).to_be_visible()
    expect(
        activity_item(page, "Board game night").get_by_role("button", name=re.compile("^Enrol"))
    ).to_be_visible()
    participant = Participant.objects.get(member=member)
    assert participant.activity == activities[1]
    assert participant.status == Participant.Status.ENROLLED


def test_a_full_activity_puts_the_member_on_the_waiting_list_and_latchs_refusal_is_shown(
    page, webapp, latch_for_webapp, member
):
    waiting_list = ActivityFactory(name="Bouldering", participant_limit=1)
    no_waiting_list = ActivityFactory(name="Sailing", participant_limit=1, waiting_list_limit=0)
    ParticipantFactory(activity=waiting_list)
    ParticipantFactory(activity=no_waiting_list)
    sign_in_to_app(page, webapp, member)

    page.get_by_role("button", name="Join the waiting list for Bouldering").click()
    expect(page.get_by_role("status")).to_have_text(
        "The activity is full: you are number 1 on the waiting list."
    )
    expect(activity_item(page, "Bouldering").get_by_text("Waiting list, number 1")).to_be_visible()

    page.get_by_role("button", name="Join the waiting list for Sailing").click()
    expect(page.get_by_role("alert")).to_have_text("This activity is full, and so is its waiting list.")
    assert Participant.objects.get(member=member).activity == waiting_list


def test_the_app_refreshes_an_expired_token_and_latch_rotates_the_refresh_token(
    page, webapp, latch_for_webapp, member, activities
):
    sign_in_to_app(page, webapp, member)
    access, refresh = tokens_of(member, latch_for_webapp)
    old_access, old_refresh = access.get(), refresh.get()
    # Latch expires it early; the app still believes it has an hour left, so the API's 401 tells it.
    access.update(expires=timezone.now() - datetime.timedelta(minutes=1))

    page.reload()

    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Ada Lovelace")
    expect(activity_item(page, "Board game night")).to_be_visible()
    old_refresh.refresh_from_db()
    assert old_refresh.revoked is not None
    new_refresh = refresh.get(revoked=None)
    assert new_refresh.token_family == old_refresh.token_family
    new_access = access.get()
    assert new_access.pk != old_access.pk
    assert new_access.expires > timezone.now()
    # The id_token_hint the app keeps still names this sign-in at Latch after the rotation.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out of Latch?")


def test_the_app_refreshes_a_token_about_to_expire_before_using_it(
    page, webapp, latch_for_webapp, member, activities
):
    latch_for_webapp.access_token_lifetime = 20  # inside the app's 30 s margin from the start
    latch_for_webapp.save()
    log_start = webapp.log.stat().st_size
    sign_in_to_app(page, webapp, member)  # the first page already needed a refresh
    _, refresh = tokens_of(member, latch_for_webapp)
    rotated = refresh.exclude(revoked=None).count()
    assert rotated >= 1

    page.reload()

    expect(activity_item(page, "Board game night")).to_be_visible()
    assert refresh.exclude(revoked=None).count() > rotated
    assert refresh.filter(revoked=None).count() == 1
    assert "latch.api_unauthorized" not in webapp.log_from(log_start)  # refreshed before, not after a 401


def test_a_revoked_grant_sends_the_member_to_the_login_page_with_session_ended(
    page, webapp, latch_for_webapp, member, activities
):
    sign_in_to_app(page, webapp, member)
    # The member disconnects the app in Latch: the refresh token family and its access tokens go.
    assert services.revoke_member_tokens(member.user, latch_for_webapp) == 1

    page.reload()

    expect_login_page(page, webapp, "Your session with Latch has ended; sign in again.")
    page.reload()  # the message was shown once, and the app forgot the member
    expect_login_page(page, webapp)
    expect(page.get_by_role("alert")).to_have_count(0)


def test_deny_on_the_consent_page_shows_the_declined_message_and_issues_no_token(
    page, webapp, latch_for_webapp, member
):
    start_sign_in(page, webapp, member)

    page.get_by_role("button", name="Deny").click()

    expect_login_page(page, webapp, "You declined to share your details with Activity planner.")
    access, refresh = tokens_of(member, latch_for_webapp)
    assert not access.exists()
    assert not refresh.exists()


def test_signing_out_revokes_the_refresh_token_and_signs_out_of_latch_too(
    page, webapp, latch_for_webapp, member, activities
):
    sign_in_to_app(page, webapp, member)
    log_start = webapp.log.stat().st_size

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out of Latch?")
    expect(page.get_by_text(f"{APP_NAME} asked to sign you out.", exact=False)).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).click()

    expect_login_page(page, webapp)
    expect(page.get_by_role("status")).to_have_text("You are signed out of Activity planner and of Latch.")
    access, refresh = tokens_of(member, latch_for_webapp)
    assert not access.exists()
    assert refresh.get().revoked is not None
    assert "latch.revocation_" not in webapp.log_from(log_start)  # Latch answered 200, as RFC 7009 says
    # Signed out of Latch as well: signing in again asks for the password.
    page.get_by_role("button", name="Sign in with Latch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Latch")


def test_a_callback_the_app_did_not_start_shows_a_message_not_an_error_page(page, webapp, latch_for_webapp):
    response = page.goto(f"{webapp.url}/callback?code=x&state=forged")

    assert response is not None
    assert response.status == 200
    redirect = response.request.redirected_from
    assert redirect is not None
    assert redirect.response() is not None
    assert redirect.response().status == 302
    expect_login_page(page, webapp, "This sign-in was not started here, or was already used; sign in again.")


def test_an_error_latch_sends_back_is_shown_with_its_code_and_description(page, webapp, latch_for_webapp):
    page.goto(
        f"{webapp.url}/callback?error=invalid_scope&error_description=Unknown+scope%3A+%3Cb%3Ex%3C%2Fb%3E"
    )

    # Latch's code and description, as text: the description comes from the URL, so it is escaped.
    expect_login_page(page, webapp, "Latch could not sign you in (invalid_scope): Unknown scope: <b>x</b>")


def test_a_form_from_a_page_older_than_the_session_shows_a_message_not_an_error_page(
    page, webapp, latch_for_webapp, member, activities
):
    sign_in_to_app(page, webapp, member)
    stale = page.context.new_page()  # a second tab, still showing the activities
    stale.goto(f"{webapp.url}/")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect_login_page(page, webapp)

    stale.get_by_role("button", name="Enrol in Board game night").click()

    expect_login_page(stale, webapp, "That page had expired, so nothing was sent; try again.")
    assert not Participant.objects.exists()
