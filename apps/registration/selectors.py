"""Reads for the registration endpoints: which token is presented, and what it may manage."""

from apps.registration.models import ClientRegistration, InitialAccessToken
from apps.registration.services import InvalidToken


def initial_token_check(value: str) -> None:
    """InvalidToken unless the token could register a client now (client_register checks it again, locked).

    So that a wrong token is told it is wrong before anything about its body is.
    """
    token = InitialAccessToken.objects.filter(token=value).first()
    if token is None or not token.is_usable():
        raise InvalidToken("The initial access token is unknown, expired, revoked or used up.")


def registration_for(*, client_id: str, registration_access_token: str) -> ClientRegistration:
    """The registration this token manages, if it is this client's (RFC 7592 §2); else InvalidToken.

    An application an administrator created has no registration, so no token manages it.
    """
    registration = (
        ClientRegistration.objects.select_related("application")
        .filter(registration_access_token=registration_access_token)
        .first()
    )
    if registration is None or registration.application.client_id != client_id:
        raise InvalidToken("The registration access token is not valid for this client.")
    return registration
