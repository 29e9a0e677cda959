"""The values of access and refresh tokens (DOT's ACCESS_TOKEN_GENERATOR / REFRESH_TOKEN_GENERATOR)."""

import secrets

TOKEN_BYTES = 32


def random_token(request=None) -> str:
    """256 random bits, base64url (43 characters): an opaque bearer value, stored only as a digest.

    oauthlib's default draws 30 characters from a 62-character alphabet (letters and digits), one
    call of the operating system's random source per character (178 bits, 30 reads): 5% of a
    refresh's CPU.
    One call of `secrets` gives more entropy for a thirtieth of the reads.
    """
    return secrets.token_urlsafe(TOKEN_BYTES)
