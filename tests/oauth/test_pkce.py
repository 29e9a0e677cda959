"""PKCE (RFC 7636) with S256 from every client, OAuth 2.1-style; RFC 9700 §4.8.2 against downgrades."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apps.oauth.models import AccessToken, Grant
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, pkce_pair, public_application

pytestmark = pytest.mark.django_db

SCOPE = "openid member-read"


@pytest.fixture
def legacy_client():
    """An old confidential client that an administrator allowed to leave PKCE out."""
    return ApplicationFactory(name="Old portal", pkce_optional=True)


def code_without_pkce(browser, application) -> str:
    response = flow.submit_consent(browser, application, SCOPE, None, allow=True)
    return flow.redirect_params(response)["code"]


def assert_token_error(response, error: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    assert not AccessToken.objects.exists()


# --- The downgrade: a code issued without code_challenge, redeemed with a code_verifier ----------


def test_code_issued_without_challenge_is_not_redeemed_with_an_attackers_verifier(browser, legacy_client):
    """RFC 9700 §4.8.2: the verifier proves nothing about a code that had no challenge. An attacker
    who injects a stolen challenge-less code into a victim's session that sent PKCE would be let in
    if the server only checked PKCE when the code carried a challenge."""
    code = code_without_pkce(browser, legacy_client)
    attackers_verifier, _ = pkce_pair()

    response = flow.redeem(Client(), legacy_client, code, attackers_verifier)

    assert_token_error(response, "invalid_grant")
    assert Grant.objects.get().redeemed_at is None


def test_code_stored_without_challenge_before_pkce_was_required_is_refused_with_a_verifier(browser):
    """A confidential client's code issued before PKCE became required (no challenge on the row)."""
    application = ApplicationFactory()
    verifier, challenge = pkce_pair()
    code = flow.redirect_params(flow.submit_consent(browser, application, SCOPE, challenge, allow=True))[
        "code"
    ]
    Grant.objects.update(code_challenge="", code_challenge_method="")

    response = flow.redeem(Client(), application, code, verifier)

    assert_token_error(response, "invalid_grant")


# --- Confidential clients need S256 PKCE too, unless the administrator opted them out -----------


def test_confidential_client_without_pkce_is_refused_by_redirect(browser, application):
    params = flow.redirect_params(flow.consent_page(browser, application, SCOPE, None))

    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"
    assert "code" not in params
    assert not Grant.objects.exists()


def test_confidential_client_with_pkce_gets_tokens(browser, application):
    code, verifier = flow.get_code(browser, application, SCOPE)

    response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200, response.content


def test_confidential_client_that_sent_a_challenge_must_send_its_verifier(browser, application):
    code, _verifier = flow.get_code(browser, application, SCOPE)

    response = flow.redeem(Client(), application, code, None)

    assert_token_error(response, "invalid_request")


def test_confidential_client_with_a_wrong_verifier_gets_invalid_grant(browser, application):
    code, _verifier = flow.get_code(browser, application, SCOPE)
    wrong, _ = pkce_pair()

    assert_token_error(flow.redeem(Client(), application, code, wrong), "invalid_grant")


def test_opted_out_confidential_client_may_leave_pkce_out(browser, legacy_client):
    code = code_without_pkce(browser, legacy_client)

    response = flow.redeem(Client(), legacy_client, code, None)

    assert response.status_code == 200, response.content


def test_opted_out_client_that_sends_pkce_still_has_it_checked(browser, legacy_client):
    code, verifier = flow.get_code(browser, legacy_client, SCOPE)
    wrong, _ = pkce_pair()

    assert_token_error(flow.redeem(Client(), legacy_client, code, wrong), "invalid_grant")
    assert flow.redeem(Client(), legacy_client, code, verifier).status_code == 200


def test_opting_out_is_off_by_default():
    assert ApplicationFactory().pkce_optional is False


def test_a_public_client_cannot_be_opted_out_of_pkce():
    with pytest.raises(ValidationError) as raised:
        public_application(pkce_optional=True)

    assert "pkce_optional" in raised.value.message_dict


# --- "plain" is refused everywhere ---------------------------------------------------------------


@pytest.mark.parametrize("client_kind", ["confidential", "public", "opted out"])
@pytest.mark.parametrize("method", ["plain", None, "s256", "S512"])
def test_only_the_s256_method_is_accepted(browser, client_kind, method):
    application = {
        "confidential": ApplicationFactory,
        "public": public_application,
        "opted out": lambda: ApplicationFactory(pkce_optional=True),
    }[client_kind]()
    params = flow.authorize_params(application, SCOPE, None, code_challenge="a" * 43)
    if method is not None:
        params["code_challenge_method"] = method

    response = browser.get("/oauth/authorize", params)

    assert flow.redirect_params(response)["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_discovery_advertises_s256_only():
    metadata = Client().get("/.well-known/oauth-authorization-server").json()

    assert metadata["code_challenge_methods_supported"] == ["S256"]
