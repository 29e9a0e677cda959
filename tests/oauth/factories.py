import base64
import hashlib
import secrets

import factory

from apps.oauth import services
from apps.oauth.models import Application

REDIRECT_URI = "https://app.example.org/callback"
ALL_USER_SCOPES = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "member-read",
    "activity-read",
    "group-read",
]


class ApplicationFactory(factory.django.DjangoModelFactory):
    """An application made the way admins make them; the plaintext secret is on `.secret`."""

    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"App {n}")
    grant_type = "authorization_code"
    client_type = Application.CLIENT_CONFIDENTIAL
    redirect_uris = factory.LazyFunction(lambda: [REDIRECT_URI])
    post_logout_redirect_uris = factory.LazyFunction(lambda: ["https://app.example.org/"])
    allowed_scopes = factory.LazyFunction(lambda: list(ALL_USER_SCOPES))

    @classmethod
    def _create(cls, model_class, **kwargs):
        application, secret = services.create_application(**kwargs)
        application.secret = secret
        return application


def public_application(**kwargs) -> Application:
    return ApplicationFactory(client_type=Application.CLIENT_PUBLIC, **kwargs)


def service_application(**kwargs) -> Application:
    kwargs.setdefault("allowed_scopes", ["member-read", "checkout-read"])
    return ApplicationFactory(
        grant_type="client_credentials", redirect_uris=[], post_logout_redirect_uris=[], **kwargs
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge
