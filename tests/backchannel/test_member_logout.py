"""Signing out everywhere and deactivation: every app the member has a session or a live token with
is told, by `sub`; an app that requires `sid` gets one token per known session and never one without."""

import pytest
from django.db import transaction
from django.test import Client

from apps.backchannel.delivery import deliver_due
from apps.backchannel.models import LogoutDelivery, SessionSignIn
from apps.oauth.models import AccessToken, Application
from tests.accounts.factories import UserFactory
from tests.accounts.mfa import staff_browser
from tests.backchannel.conftest import sign_into, signed_in_browser
from tests.backchannel.receiver import id_token_claims, verify_logout_token
from tests.oauth import device, flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def device_tokens(member, application) -> dict:
    """The member approves a device's request in a browser; the device gets its tokens."""
    codes = device.codes(application, "openid offline_access member-read")
    assert device.answer(signed_in_browser(member), codes["user_code"], allow=True).status_code == 200
    response = device.poll(Client(), application, codes["device_code"])
    assert response.status_code == 200, response.content
    return response.json()


def test_signing_out_everywhere_tells_every_app_by_sub(member, rp, receiver):
    laptop, phone = signed_in_browser(member), signed_in_browser(member)
    planner, shop, without_uri = rp("/planner"), rp("/shop"), ApplicationFactory()
    sign_into(laptop, planner)
    sign_into(phone, planner)
    sign_into(phone, shop)
    sign_into(phone, without_uri)

    assert laptop.post("/accounts/sessions/end-all").status_code == 302
    deliver_due()

    for application, path in ((planner, "/planner"), (shop, "/shop")):
        (token,) = receiver.tokens(path)  # one token ends every session of the member there
        claims = verify_logout_token(token, application)
        assert claims["sub"] == str(member.public_id)
        assert "sid" not in claims
    assert set(LogoutDelivery.objects.values_list("reason", flat=True)) == {"signed_out_everywhere"}
    assert not LogoutDelivery.objects.filter(application=without_uri).exists()
    assert not SessionSignIn.objects.exists()


def test_an_app_requiring_sid_gets_one_token_per_session_it_was_signed_into(member, rp, receiver):
    laptop, phone, tablet = (signed_in_browser(member) for _ in range(3))
    strict = rp(session_required=True)
    sids = {id_token_claims(sign_into(browser, strict))["sid"] for browser in (laptop, phone)}
    sign_into(tablet, rp("/other"))

    laptop.post("/accounts/sessions/end-all")
    deliver_due()

    received = [verify_logout_token(token, strict) for token in receiver.tokens("/backchannel-logout")]
    assert {claims["sid"] for claims in received} == sids
    assert len(received) == 2
    assert {claims["sub"] for claims in received} == {str(member.public_id)}


def test_an_app_the_member_has_only_tokens_with_is_told_by_sub(member, rp, receiver):
    tv = device.device_application()
    Application.objects.filter(pk=tv.pk).update(backchannel_logout_uri=receiver.uri("/tv"))
    device_tokens(member, tv)
    browser = signed_in_browser(member)

    browser.post("/accounts/sessions/end-all")
    deliver_due()

    (token,) = receiver.tokens("/tv")
    claims = verify_logout_token(token, tv)
    assert claims["sub"] == str(member.public_id)
    assert "sid" not in claims


def test_an_app_requiring_sid_gets_nothing_for_tokens_without_a_session(member, receiver):
    tv = device.device_application()
    Application.objects.filter(pk=tv.pk).update(
        backchannel_logout_uri=receiver.uri("/tv"), backchannel_logout_session_required=True
    )
    device_tokens(member, tv)

    signed_in_browser(member).post("/accounts/sessions/end-all")
    deliver_due()

    assert receiver.tokens() == []
    assert not LogoutDelivery.objects.exists()


def test_a_device_grant_is_not_signed_out_with_the_browser_that_approved_it(member, receiver):
    tv = device.device_application()
    Application.objects.filter(pk=tv.pk).update(backchannel_logout_uri=receiver.uri("/tv"))
    codes = device.codes(tv, "openid offline_access")
    browser = signed_in_browser(member)
    device.answer(browser, codes["user_code"], allow=True)
    tokens = device.poll(Client(), tv, codes["device_code"]).json()

    browser.post("/accounts/logout/")

    assert "sid" not in id_token_claims(tokens)
    assert not LogoutDelivery.objects.exists()


def test_an_expired_or_revoked_token_is_not_a_reason_to_tell_an_app(member, rp):
    shop = rp()
    flow.obtain_tokens(member, shop, "member-read")  # no offline_access: an access token only
    SessionSignIn.objects.all().delete()  # as if those sessions had ended long ago
    AccessToken.objects.update(expires="2000-01-01T00:00:00Z")

    signed_in_browser(member).post("/accounts/sessions/end-all")

    assert not LogoutDelivery.objects.exists()


def test_deactivating_a_member_tells_their_apps(member, rp, receiver):
    shop = rp()
    sign_into(signed_in_browser(member), shop)

    member.is_active = False
    member.save()
    deliver_due()

    (token,) = receiver.tokens()
    assert verify_logout_token(token, shop)["sub"] == str(member.public_id)
    assert LogoutDelivery.objects.get().reason == LogoutDelivery.Reason.DEACTIVATED


def test_deactivating_by_a_queryset_update_tells_their_apps_too(member, rp):
    shop = rp()
    sign_into(signed_in_browser(member), shop)
    bystander = UserFactory()
    sign_into(signed_in_browser(bystander), shop)

    type(member).objects.filter(pk=member.pk).update(is_active=False)

    delivery = LogoutDelivery.objects.get()
    assert delivery.user == member
    assert delivery.reason == LogoutDelivery.Reason.DEACTIVATED


def test_saving_a_member_who_is_already_inactive_or_active_queues_nothing(member, rp):
    sign_into(signed_in_browser(member), rp())

    member.first_name = "Ada"
    member.save()
    type(member).objects.filter(pk=member.pk).update(is_active=True)
    assert not LogoutDelivery.objects.exists()

    member.is_active = False
    member.save()
    member.save()
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    assert LogoutDelivery.objects.count() == 1


def test_a_deactivation_that_rolls_back_queues_nothing(member, rp):
    sign_into(signed_in_browser(member), rp())

    def deactivate_then_fail() -> None:
        with transaction.atomic():
            member.is_active = False
            member.save()
            raise RuntimeError("the admin's save failed further on")

    with pytest.raises(RuntimeError):
        deactivate_then_fail()

    assert not LogoutDelivery.objects.exists()
    assert SessionSignIn.objects.exists()


def test_the_admin_deactivating_a_member_tells_their_apps(member, rp):
    sign_into(signed_in_browser(member), rp())
    admin = staff_browser(UserFactory(is_staff=True, is_superuser=True))
    form = {"email": member.email, "first_name": "Ada", "last_name": "Lovelace"}  # "active" unticked

    response = admin.post(f"/admin/accounts/user/{member.pk}/change/", form)

    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    assert LogoutDelivery.objects.get().reason == LogoutDelivery.Reason.DEACTIVATED


def test_saving_other_fields_of_an_inactive_instance_is_no_deactivation(member, rp):
    sign_into(signed_in_browser(member), rp())
    member.is_active = False

    member.save(update_fields=["first_name"])

    assert not LogoutDelivery.objects.exists()


def test_deleting_a_member_tells_their_apps_and_the_delivery_outlives_them(member, rp, receiver):
    shop = rp()
    sign_into(signed_in_browser(member), shop)
    sub = str(member.public_id)

    member.delete()
    deliver_due()

    (token,) = receiver.tokens()
    assert verify_logout_token(token, shop)["sub"] == sub
    delivery = LogoutDelivery.objects.get()
    assert delivery.user is None
    assert delivery.reason == LogoutDelivery.Reason.DELETED
