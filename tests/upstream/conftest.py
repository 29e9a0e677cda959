import pytest
import responses as responses_lib

from tests.accounts.factories import UserFactory
from tests.accounts.mfa import staff_browser
from tests.upstream.factories import UpstreamProviderFactory, vault_keys


@pytest.fixture(autouse=True)
def vault(settings):
    """Known keys: k1 encrypts. Tests that rotate set settings.LATCH_VAULT_KEYS again."""
    settings.LATCH_VAULT_KEYS = vault_keys("k1")
    return settings


@pytest.fixture
def upstream():
    """The upstream's HTTP, mocked; a request nobody registered fails the test."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def admin_user(db):
    return UserFactory(email="root@example.org", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_browser(admin_user):
    return staff_browser(admin_user)


@pytest.fixture
def provider(db):
    return UpstreamProviderFactory()


@pytest.fixture
def member(db):
    return UserFactory()
