"""The id_token's `sid`: the browser session's own random value, the same across refreshes, never
a function of the session key; discovery and the registration rules of back-channel logout."""

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apps.accounts.sessions import SESSION_ID
from apps.backchannel.models import SessionSignIn
from tests.backchannel.conftest import sign_into, signed_in_browser
from tests.backchannel.receiver import id_token_claims
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_the_id_token_carries_the_sessions_sid_and_the_session_is_recorded(member, application_pair):
    browser = signed_in_browser(member)
    planner, _ = application_pair

    claims = id_token_claims(sign_into(browser, planner))

    assert claims["sid"] == browser.session[SESSION_ID]
    assert SessionSignIn.objects.filter(sid=claims["sid"], user=member, application=planner).count() == 1


def test_a_refreshed_id_token_carries_the_same_sid(member, application_pair):
    planner, _ = application_pair
    tokens = sign_into(signed_in_browser(member), planner)

    refreshed = flow.refresh(Client(), planner, tokens["refresh_token"]).json()
    again = flow.refresh(Client(), planner, refreshed["refresh_token"]).json()

    assert id_token_claims(refreshed)["sid"] == id_token_claims(tokens)["sid"]
    assert id_token_claims(again)["sid"] == id_token_claims(tokens)["sid"]


def test_each_session_has_its_own_sid_and_apps_of_one_session_share_it(member, application_pair):
    planner, shop = application_pair
    laptop, phone = signed_in_browser(member), signed_in_browser(member)

    laptop_planner = id_token_claims(sign_into(laptop, planner))["sid"]
    laptop_shop = id_token_claims(sign_into(laptop, shop))["sid"]
    phone_planner = id_token_claims(sign_into(phone, planner))["sid"]

    assert laptop_planner == laptop_shop
    assert laptop_planner != phone_planner
    assert SessionSignIn.objects.count() == 3


def test_signing_in_again_gives_a_new_sid_and_a_second_code_no_second_record(member, application_pair):
    planner, _ = application_pair
    browser = signed_in_browser(member)
    first = id_token_claims(sign_into(browser, planner))["sid"]
    assert id_token_claims(sign_into(browser, planner))["sid"] == first
    assert SessionSignIn.objects.count() == 1

    browser.force_login(member)

    assert id_token_claims(sign_into(browser, planner))["sid"] != first


def test_the_sid_is_no_function_of_the_session_key(member, application_pair):
    planner, _ = application_pair
    browser = signed_in_browser(member)
    sid = id_token_claims(sign_into(browser, planner))["sid"]
    key = browser.session.session_key

    assert key not in sid
    assert sid != hashlib.sha256(key.encode()).hexdigest()
    assert len(sid) >= 32  # 192 random bits, base64url


def test_the_sid_survives_a_new_session_key(member, application_pair):
    """Django gives the session a new key at a password change; it is the same session for the apps."""
    planner, _ = application_pair
    browser = signed_in_browser(member)
    sid = id_token_claims(sign_into(browser, planner))["sid"]
    session = browser.session
    session.cycle_key()
    session.save()
    browser.cookies["sessionid"] = session.session_key

    assert browser.session[SESSION_ID] == sid


def test_discovery_announces_back_channel_logout_with_sid():
    metadata = Client().get("/.well-known/openid-configuration").json()

    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert "sid" in metadata["claims_supported"]


@pytest.fixture
def application_pair():
    return ApplicationFactory(), ApplicationFactory()


# --- Registering the URI (§2.2) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "http://rp.example.org/logout",
        "https://rp.example.org/logout#fragment",
        "https://rp.example.org/logout#",
        "https://user:pass@rp.example.org/logout",
        "ftp://rp.example.org/logout",
        "/relative/logout",
    ],
)
def test_a_logout_uri_that_is_not_plain_https_is_refused(uri):
    application = ApplicationFactory()
    application.backchannel_logout_uri = uri

    with pytest.raises(ValidationError) as refused:
        application.full_clean()

    assert "backchannel_logout_uri" in refused.value.message_dict


def test_an_https_logout_uri_with_a_query_is_accepted():
    application = ApplicationFactory()
    application.backchannel_logout_uri = "https://rp.example.org/logout?tenant=a"

    application.full_clean()


def test_http_is_accepted_in_debug_only(settings):
    settings.DEBUG = True
    application = ApplicationFactory()
    application.backchannel_logout_uri = "http://localhost:8001/logout"

    application.full_clean()


def test_requiring_sid_needs_a_logout_uri():
    application = ApplicationFactory()
    application.backchannel_logout_session_required = True

    with pytest.raises(ValidationError) as refused:
        application.full_clean()

    assert "backchannel_logout_session_required" in refused.value.message_dict
