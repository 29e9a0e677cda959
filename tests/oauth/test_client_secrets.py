import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from apps.oauth import services
from apps.oauth.hashers import ClientSecretHasher
from apps.oauth.models import Application
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


def test_secrets_are_long_random_and_stored_as_salted_digests():
    first, second = service_application(), service_application()

    assert len(first.secret) >= 64
    assert first.secret != second.secret
    assert first.client_secret.startswith("latch_sha256$")
    assert first.secret not in first.client_secret
    # Salted: the same secret never digests to the same stored value twice.
    hasher = ClientSecretHasher()
    assert hasher.encode("s", hasher.salt()) != hasher.encode("s", hasher.salt())


def test_digest_check_accepts_the_secret_and_nothing_else():
    hasher = ClientSecretHasher()
    encoded = hasher.encode("the-secret", hasher.salt())

    assert hasher.verify("the-secret", encoded)
    assert not hasher.verify("the-secret ", encoded)
    assert not hasher.verify("", encoded)


def test_public_clients_store_no_secret():
    application, secret = services.create_application(
        name="Mobile",
        grant_type="authorization_code",
        client_type=Application.CLIENT_PUBLIC,
        redirect_uris=["https://app.example.org/callback"],
        allowed_scopes=["member-read"],
    )

    assert secret is None
    assert application.client_secret == ""


def test_secret_hashed_the_slow_way_keeps_working_until_rotated():
    """The migration path for secrets stored by DOT's default PBKDF2 hasher."""
    application = service_application()
    Application.objects.filter(pk=application.pk).update(
        client_secret=make_password("legacy-secret", hasher="pbkdf2_sha256")
    )
    application.refresh_from_db()
    application.secret = "legacy-secret"
    assert flow.client_credentials(Client(), application).status_code == 200

    application.secret = services.rotate_client_secret(application)

    application.refresh_from_db()
    assert application.client_secret.startswith("latch_sha256$")
    assert flow.client_credentials(Client(), application).status_code == 200
