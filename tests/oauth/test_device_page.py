"""/oauth/device: the member types the code, sees the consent page and answers (RFC 8628 §3.3)."""

import pytest
from django.test import Client

from apps.oauth.models import Consent, DeviceGrant
from tests.accounts.factories import UserFactory
from tests.oauth import device

pytestmark = pytest.mark.django_db

NOT_A_CODE = "BBBB-BBBB"  # well formed, but no device shows it


@pytest.fixture
def tv():
    return device.device_application(name="Living-room TV")


@pytest.fixture
def issued(tv):
    return device.codes(tv, "openid member-read")


def consent_id(page) -> str:
    return page.context["form"].initial["consent_request"]


def test_a_signed_out_member_is_sent_to_sign_in_and_back_with_the_code(issued):
    response = Client().get(f"/oauth/device?user_code={issued['user_code']}")

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/oauth/device%3Fuser_code%3D{issued['user_code']}"


def test_a_code_in_the_link_only_fills_the_field_the_member_still_confirms_it(browser, issued):
    page = browser.get(f"/oauth/device?user_code={issued['user_code']}")

    assert page.status_code == 200
    assert page.context["form"].initial["user_code"] == issued["user_code"]
    assert "consent_request" not in page.context["form"].fields
    assert DeviceGrant.objects.get().answered_at is None


def test_the_consent_page_asks_for_every_scope_even_when_the_app_was_allowed_before(
    browser, member, tv, issued
):
    Consent.objects.create(user=member, application=tv, scopes=["openid", "member-read"])

    page = device.enter_code(browser, issued["user_code"])

    assert page.status_code == 200
    assert [scope.name for scope in page.context["scopes"]] == ["openid", "member-read"]
    assert page.context["already_allowed"] == []
    assert b"Living-room TV wants to access your Latch account" in page.content


@pytest.mark.parametrize("typed", [NOT_A_CODE, "", "abc", "x" * 40, "\x00", "BCDF-GHJK' OR 1=1"])
def test_a_wrong_code_is_refused_on_the_page_and_changes_nothing(browser, issued, typed):
    response = device.enter_code(browser, typed)

    assert response.status_code == 400
    assert response.context["form"].errors
    assert DeviceGrant.objects.get().answered_at is None


def test_wrong_codes_are_throttled_per_session_and_then_even_the_right_one_waits(browser, issued, settings):
    settings.LATCH_USER_CODE_FAILURES_PER_SESSION = 3
    for _ in range(3):
        assert device.enter_code(browser, NOT_A_CODE).status_code == 400

    blocked = device.enter_code(browser, issued["user_code"])

    assert blocked.status_code == 429
    assert b"Too many wrong codes" in blocked.content
    # Another browser, from the same address, still may.
    other = Client()
    other.force_login(UserFactory())
    assert device.enter_code(other, issued["user_code"]).status_code == 200


def test_wrong_codes_are_throttled_per_ip_address_across_sessions(issued, settings):
    settings.LATCH_USER_CODE_FAILURES_PER_IP = 4
    for _ in range(2):
        guesser = Client()
        guesser.force_login(UserFactory())
        assert [device.enter_code(guesser, NOT_A_CODE).status_code for _ in range(2)] == [400, 400]

    fresh_session = Client()
    fresh_session.force_login(UserFactory())
    assert device.enter_code(fresh_session, issued["user_code"]).status_code == 429
    assert device.enter_code(fresh_session, issued["user_code"], REMOTE_ADDR="192.0.2.9").status_code == 200


def test_an_answer_counts_once(browser, issued):
    page = device.enter_code(browser, issued["user_code"])
    assert browser.post("/oauth/device", {"consent_request": consent_id(page)}).status_code == 200

    again = browser.post("/oauth/device", {"consent_request": consent_id(page), "allow": "true"})

    assert again.status_code == 400
    assert DeviceGrant.objects.get().status == DeviceGrant.DENIED


def test_the_first_of_two_members_to_answer_decides(browser, issued):
    first_page = device.enter_code(browser, issued["user_code"])
    other = Client()
    other.force_login(UserFactory())
    assert device.answer(other, issued["user_code"], allow=False).status_code == 200

    late = browser.post("/oauth/device", {"consent_request": consent_id(first_page), "allow": "true"})

    assert late.status_code == 400
    assert DeviceGrant.objects.get().status == DeviceGrant.DENIED
    assert device.enter_code(browser, issued["user_code"]).status_code == 400


def test_an_answer_from_another_session_is_refused(browser, issued):
    page = device.enter_code(browser, issued["user_code"])
    other = Client()
    other.force_login(UserFactory())

    response = other.post("/oauth/device", {"consent_request": consent_id(page), "allow": "true"})

    assert response.status_code == 400
    assert DeviceGrant.objects.get().answered_at is None


@pytest.mark.parametrize("extra", [{"client_id": "another-app"}, {"scope": "checkout-write"}])
def test_a_tampered_answer_is_refused(browser, issued, extra):
    page = device.enter_code(browser, issued["user_code"])

    response = browser.post("/oauth/device", {"consent_request": consent_id(page), "allow": "true", **extra})

    assert response.status_code == 400
    assert DeviceGrant.objects.get().answered_at is None


def test_the_answer_is_for_the_device_shown_whatever_else_is_posted(browser, tv, issued):
    page = device.enter_code(browser, issued["user_code"])
    device.codes(tv, "member-read")
    shown, other = DeviceGrant.objects.order_by("pk")

    response = browser.post(
        "/oauth/device", {"consent_request": consent_id(page), "allow": "true", "device_grant": str(other.pk)}
    )

    assert response.status_code == 200
    assert DeviceGrant.objects.get(pk=shown.pk).status == DeviceGrant.AUTHORIZED
    assert DeviceGrant.objects.get(pk=other.pk).answered_at is None


def test_an_answer_for_a_request_never_shown_is_refused(browser, issued):
    response = browser.post("/oauth/device", {"consent_request": "made-up", "allow": "true"})

    assert response.status_code == 400
    assert DeviceGrant.objects.get().answered_at is None


def test_the_forms_are_csrf_protected(member, issued):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)

    assert device.enter_code(browser, issued["user_code"]).status_code == 403
