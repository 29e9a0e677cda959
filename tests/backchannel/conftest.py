import pytest
from django.test import Client

from apps.oauth.models import Application
from tests.accounts.factories import UserFactory
from tests.backchannel.receiver import LogoutReceiver
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory


@pytest.fixture
def receiver():
    receiver = LogoutReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(autouse=True)
def quick_delivery(settings):
    settings.LATCH_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS = 1.0
    settings.LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS = 5
    settings.LATCH_BACKCHANNEL_LOGOUT_RETRY_SECONDS = 60


@pytest.fixture
def rp(receiver):
    """`rp(path, session_required=False)`: an app whose back-channel logout URI is the receiver's.

    The URI is plain http on 127.0.0.1, which Application.clean() refuses outside DEBUG: it is
    stored with an UPDATE, as only a test can.
    """

    def make(path: str = "/backchannel-logout", *, session_required: bool = False, **kwargs) -> Application:
        application = ApplicationFactory(**kwargs)
        Application.objects.filter(pk=application.pk).update(
            backchannel_logout_uri=receiver.uri(path), backchannel_logout_session_required=session_required
        )
        secret = application.secret
        application.refresh_from_db()
        application.secret = secret
        return application

    return make


@pytest.fixture
def member():
    return UserFactory(email="ada@example.org")


def signed_in_browser(member) -> Client:
    browser = Client()
    browser.force_login(member)
    return browser


def sign_into(browser: Client, application, scope: str = "openid member-read offline_access") -> dict:
    """The member of `browser` signs into `application`, which redeems the code."""
    code, verifier = flow.obtain_code(browser, application, scope)
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()
