"""Concurrent polls of one approved device code: tokens are issued once (PostgreSQL row locks)."""

import pytest
from django.test import Client

from apps.oauth.models import DeviceGrant
from tests.accounts.factories import UserFactory
from tests.concurrency import race
from tests.oauth import device

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


def test_concurrent_polls_of_an_approved_device_code_mint_exactly_one_token(
    slow_issuance, minted_access_tokens
):
    tv = device.device_application()
    issued = device.codes(tv, "member-read offline_access")
    browser = Client()
    browser.force_login(UserFactory())
    device.answer(browser, issued["user_code"], allow=True)

    responses = race([lambda: device.poll(Client(), tv, issued["device_code"])] * 3)

    outcomes = sorted((response.status_code, response.json().get("error")) for response in responses)
    assert outcomes == [(200, None), (400, "invalid_grant"), (400, "invalid_grant")]
    assert len(minted_access_tokens) == 1
    assert DeviceGrant.objects.get().redeemed_at is not None


def test_concurrent_answers_to_one_device_count_once():
    tv = device.device_application()
    issued = device.codes(tv, "member-read")
    browsers = []
    for _ in range(2):
        browser = Client()
        browser.force_login(UserFactory())
        page = device.enter_code(browser, issued["user_code"])
        browsers.append((browser, page.context["form"].initial["consent_request"]))

    responses = race(
        [
            lambda browser=browser, request_id=request_id: browser.post(
                "/oauth/device", {"consent_request": request_id, "allow": "true"}
            )
            for browser, request_id in browsers
        ]
    )

    assert sorted(response.status_code for response in responses) == [200, 400]
    assert DeviceGrant.objects.get().status == DeviceGrant.AUTHORIZED
