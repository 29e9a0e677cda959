"""A member connects a device in Chromium: sign in, type the code as people do, Allow (RFC 8628).

The device's side is the test client polling the token endpoint, on the live server's database.
"""

import re

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from tests.browser.test_consent_flow import sign_in
from tests.members.factories import member_with_login
from tests.oauth import device

pytestmark = pytest.mark.browser

APP_NAME = "Living-room TV"


@pytest.fixture
def member():
    return member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org").user


@pytest.fixture
def tv():
    return device.device_application(name=APP_NAME, description="Watch the association's recorded talks.")


def type_code(page: Page, code: str) -> None:
    page.get_by_label("Code shown on your device").fill(code)
    page.get_by_role("button", name="Continue").click()


def test_a_member_types_the_code_in_lower_case_without_the_dash_and_allows_the_device(
    page, live_server, member, tv, screenshot
):
    issued = device.codes(tv, "openid profile member-read")
    assert device.poll(Client(), tv, issued["device_code"]).json()["error"] == "authorization_pending"

    page.goto("/oauth/device")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/oauth/device$"))
    sign_in(page, member)
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect a device")
    screenshot("device-code")
    type_code(page, issued["user_code"].lower().replace("-", ""))

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{APP_NAME} wants to access your Latch account"
    )
    expect(
        page.get_by_role("list", name=f"This will allow {APP_NAME} to:").get_by_role("listitem")
    ).to_have_count(3)
    screenshot("device-consent")
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{APP_NAME} is connected")

    tokens = device.poll(Client(), tv, issued["device_code"])
    assert tokens.status_code == 200, tokens.content
    assert tokens.json()["scope"] == "openid profile member-read"
    assert tokens.json()["member"]["name"] == "Ada Lovelace"


def test_the_link_with_the_code_fills_it_in_and_a_wrong_code_says_so(page, live_server, member, tv):
    issued = device.codes(tv, "member-read")

    page.goto(f"/oauth/device?user_code={issued['user_code']}")
    sign_in(page, member)
    expect(page.get_by_label("Code shown on your device")).to_have_value(issued["user_code"])
    type_code(page, "BBBB-BBBB")
    expect(page.get_by_text("This code is not valid or has expired.")).to_be_visible()

    type_code(page, issued["user_code"])
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{APP_NAME} was refused")
    assert device.poll(Client(), tv, issued["device_code"]).json()["error"] == "access_denied"
