"""The example web app's token rules (examples/webapp/tokens.py): plain functions, no webapp settings.

The rest of the app is tested through its process, in tests/browser/test_example_webapp.py.
"""

from examples.webapp.tokens import EXPIRY_MARGIN_SECONDS, expires_soon, stored

NOW = 1_800_000_000.0


def test_a_token_expiring_within_the_margin_is_refreshed_first():
    assert expires_soon({"expires_at": NOW + EXPIRY_MARGIN_SECONDS}, now=NOW)
    assert expires_soon({"expires_at": NOW - 5}, now=NOW)


def test_a_token_with_more_than_the_margin_left_is_used_as_it_is():
    assert not expires_soon({"expires_at": NOW + EXPIRY_MARGIN_SECONDS + 1}, now=NOW)


def test_a_token_without_expiry_is_used_until_the_api_refuses_it():
    assert not expires_soon({"access_token": "a"}, now=NOW)


def test_a_sign_in_keeps_the_tokens_and_their_expiry_and_nothing_else():
    response = {
        "access_token": "a1",
        "refresh_token": "r1",
        "id_token": "i1",
        "expires_in": 3600,
        "scope": "openid",
        "token_type": "Bearer",
        "userinfo": {"sub": "s"},
    }

    assert stored(response, now=NOW) == {
        "access_token": "a1",
        "refresh_token": "r1",
        "id_token": "i1",
        "scope": "openid",
        "expires_at": int(NOW) + 3600,
    }


def test_a_refresh_replaces_the_rotated_refresh_token_and_the_expiry():
    previous = {"access_token": "a1", "refresh_token": "r1", "id_token": "i1", "expires_at": NOW}

    token = stored(
        {"access_token": "a2", "refresh_token": "r2", "expires_at": NOW + 60}, previous=previous, now=NOW
    )

    assert token == {"access_token": "a2", "refresh_token": "r2", "id_token": "i1", "expires_at": NOW + 60}


def test_a_refresh_without_a_new_refresh_token_or_expiry_keeps_the_old_token_and_no_stale_expiry():
    previous = {"access_token": "a1", "refresh_token": "r1", "id_token": "i1", "expires_at": NOW}

    token = stored({"access_token": "a2", "id_token": "i2"}, previous=previous, now=NOW)

    assert token == {"access_token": "a2", "refresh_token": "r1", "id_token": "i2"}
