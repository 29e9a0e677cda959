"""Rotating the id_token signing keys with `manage.py signing_keys`, checked as relying parties see it.

Each instance reads its keys once, at start-up; `restart` below does what a restart does: it loads the
keys directory again and hands DOT the result (DOT reloads its settings on `setting_changed`).
"""

import json
import os
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from jwcrypto import jwk, jws, jwt

from apps.oauth import keys
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

ISSUER = "https://testserver"
# Latch's OAUTH2_PROVIDER: ID_TOKEN_EXPIRE_SECONDS (LATCH_ID_TOKEN_SECONDS) and DOT's default
# OIDC_JWKS_MAX_AGE_SECONDS.
ID_TOKEN_SECONDS = 3600
JWKS_MAX_AGE = 3600
RESTART = (
    "Restart every Latch instance to load this change (gunicorn: send the master HUP, unless it runs "
    "with --preload): each instance reads the signing keys once, at start-up."
)


@pytest.fixture
def start():
    """When the keys directory was made; commands run at `start + seconds` (keys.json keeps seconds)."""
    return timezone.now().replace(microsecond=0) - timedelta(days=30)


@pytest.fixture
def keys_dir(tmp_path, start) -> Path:
    directory = tmp_path / "keys"
    keys.init_keys(directory, now=start)
    return directory


@pytest.fixture
def run(keys_dir, start):
    """`run("retire", "--force", "--", kid, at=3600)`: the command, with its clock `at` seconds after start.

    Kids go after "--": a base64url kid may start with a dash, as operators are told too.
    """

    def call(*args: str, at: float = 0) -> str:
        out = StringIO()
        with mock.patch.object(timezone, "now", return_value=start + timedelta(seconds=at)):
            call_command("signing_keys", "--dir", str(keys_dir), *args, stdout=out)
        return out.getvalue()

    return call


@pytest.fixture
def refusal(run, keys_dir):
    """The CommandError's message; the refused command leaves keys.json as it was."""

    def call(*args: str, at: float = 0) -> str:
        before = (keys_dir / keys.MANIFEST).read_text()
        with pytest.raises(CommandError) as error:
            run(*args, at=at)
        assert (keys_dir / keys.MANIFEST).read_text() == before
        return str(error.value)

    return call


def arg(kid: str) -> str:
    return f"-- {kid}" if kid.startswith("-") else kid


def kid_in_state(keys_dir: Path, state: str) -> list[str]:
    return [record.kid for record in keys.read_manifest(keys_dir) if record.state == state]


def restart(settings, keys_dir: Path) -> None:
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, **keys.keys_from_dir(keys_dir).dot_settings()}


def jwks_response() -> bytes:
    response = Client().get("/oauth/jwks")
    assert response.status_code == 200
    return response.content


def published_jwks() -> jwk.JWKSet:
    return jwk.JWKSet.from_json(jwks_response())


def published_kids() -> list[str]:
    """In the order /oauth/jwks lists them (a JWKSet is unordered)."""
    return [key["kid"] for key in json.loads(jwks_response())["keys"]]


def issue_id_token(browser, application) -> str:
    code, verifier = flow.obtain_code(browser, application, "openid")
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()["id_token"]


def header_kid(id_token: str) -> str:
    return jws.JWS.from_jose_token(id_token).jose_header["kid"]


def verify(id_token: str, application) -> dict:
    """As a relying party does: the signature against the published JWKS (by kid), issuer, audience."""
    check_claims = {"iss": ISSUER, "aud": application.client_id, "exp": None}
    token = jwt.JWT(key=published_jwks(), jwt=id_token, algs=["RS256"], check_claims=check_claims)
    return json.loads(token.claims)


def test_rotation_keeps_issued_id_tokens_verifying_until_their_key_is_retired(
    settings, keys_dir, run, browser, application, member
):
    (kid_a,) = kid_in_state(keys_dir, "signing")
    restart(settings, keys_dir)
    token_a = issue_id_token(browser, application)
    assert header_kid(token_a) == kid_a

    # Add B: published, so relying parties can fetch it, but A still signs.
    run("add", at=0)
    (kid_b,) = kid_in_state(keys_dir, "published")
    restart(settings, keys_dir)
    assert published_kids() == [kid_a, kid_b]
    assert header_kid(issue_id_token(browser, application)) == kid_a

    # Activate B once every cached JWKS holds it: B signs, A stays published.
    run("activate", "--", kid_b, at=JWKS_MAX_AGE)
    restart(settings, keys_dir)
    assert published_kids() == [kid_b, kid_a]
    assert verify(token_a, application)["sub"] == str(member.public_id)
    token_b = issue_id_token(browser, application)
    assert header_kid(token_b) == kid_b
    assert verify(token_b, application)["sub"] == str(member.public_id)

    # Retire A once the id_tokens it signed have expired: no longer published, its tokens fail.
    run("retire", "--", kid_a, at=JWKS_MAX_AGE + ID_TOKEN_SECONDS)
    restart(settings, keys_dir)
    assert published_kids() == [kid_b]
    with pytest.raises(jwt.JWTMissingKey):
        verify(token_a, application)
    assert verify(token_b, application)["sub"] == str(member.public_id)
    assert not (keys_dir / f"{kid_a}.pem").exists()


def test_add_writes_a_private_key_only_its_owner_reads_and_says_what_to_do_next(keys_dir, run):
    output = run("add", "--bits", "3072")

    (record,) = [record for record in keys.read_manifest(keys_dir) if record.state == "published"]
    assert record.bits == 3072
    assert oct((keys_dir / f"{record.kid}.pem").stat().st_mode & 0o777) == "0o600"
    assert output.splitlines() == [
        f"Added key {record.kid} (RSA-3072): published, not signing.",
        RESTART,
        f"Then wait at least {JWKS_MAX_AGE} s (OIDC_JWKS_MAX_AGE_SECONDS), so relying parties fetch it, "
        f"before `signing_keys activate {arg(record.kid)}`.",
    ]


def test_add_refuses_a_key_size_it_does_not_generate(refusal):
    assert refusal("add", "--bits", "1024") == (
        "Error: argument --bits: invalid choice: 1024 (choose from 2048, 3072, 4096)"
    )


def test_list_shows_each_keys_state_creation_size_and_when_it_stopped_signing(keys_dir, run, start):
    (kid_a,) = kid_in_state(keys_dir, "signing")
    run("add", at=0)
    (kid_b,) = kid_in_state(keys_dir, "published")
    run("activate", "--", kid_b, at=JWKS_MAX_AGE)
    run("add", at=JWKS_MAX_AGE + 60)
    (kid_c,) = [kid for kid in kid_in_state(keys_dir, "published") if kid != kid_a]
    run("retire", "--", kid_c, at=JWKS_MAX_AGE + 120)

    def when(seconds: int) -> str:
        return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")

    assert run("list").splitlines() == [
        "KID" + " " * 42 + "STATE      CREATED                  BITS  STOPPED SIGNING",
        f"{kid_a}  published  {when(0)}  2048  {when(JWKS_MAX_AGE)}",
        f"{kid_b}  signing    {when(0)}  2048  -",
        f"{kid_c}  retired    {when(JWKS_MAX_AGE + 60)}  2048  -",
    ]


def test_activate_keeps_the_previous_key_published_and_says_when_to_retire_it(keys_dir, run):
    (kid_a,) = kid_in_state(keys_dir, "signing")
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")

    output = run("activate", "--", kid_b, at=JWKS_MAX_AGE)

    assert output.splitlines() == [
        f"Key {kid_b} signs; key {kid_a} stays published.",
        RESTART,
        f"Until an instance restarts it keeps signing with {kid_a}. Retire {kid_a} no earlier than "
        f"{ID_TOKEN_SECONDS} s (ID_TOKEN_EXPIRE_SECONDS) after the last restart: "
        f"`signing_keys retire {arg(kid_a)}`.",
    ]
    assert kid_in_state(keys_dir, "signing") == [kid_b]
    assert kid_in_state(keys_dir, "published") == [kid_a]


def test_activate_refuses_a_key_relying_parties_may_not_have_fetched_unless_forced(keys_dir, run, refusal):
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")

    assert refusal("activate", "--", kid_b, at=JWKS_MAX_AGE - 1) == (
        f"Key {kid_b} was added {JWKS_MAX_AGE - 1} s ago. Relying parties cache the JWKS for up to "
        f"{JWKS_MAX_AGE} s (OIDC_JWKS_MAX_AGE_SECONDS) and would reject id_tokens it signs until they "
        "fetch it again: restart every instance after `add`, wait that long, then activate. --force "
        "activates it now."
    )
    run("activate", "--force", "--", kid_b, at=JWKS_MAX_AGE - 1)
    assert kid_in_state(keys_dir, "signing") == [kid_b]


def test_retiring_the_signing_key_is_refused_even_forced(keys_dir, refusal):
    (kid_a,) = kid_in_state(keys_dir, "signing")
    message = f"Key {kid_a} signs id_tokens; activate another key before retiring it."

    assert refusal("retire", "--", kid_a) == message
    assert refusal("retire", "--force", "--", kid_a) == message


def test_retiring_a_key_whose_id_tokens_may_still_be_valid_is_refused_unless_forced(
    keys_dir, run, refusal, start
):
    (kid_a,) = kid_in_state(keys_dir, "signing")
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")
    run("activate", "--", kid_b, at=JWKS_MAX_AGE)
    too_early = JWKS_MAX_AGE + ID_TOKEN_SECONDS - 1

    stopped = (start + timedelta(seconds=JWKS_MAX_AGE)).isoformat()
    valid_until = (start + timedelta(seconds=JWKS_MAX_AGE + ID_TOKEN_SECONDS)).isoformat()
    assert refusal("retire", "--", kid_a, at=too_early) == (
        f"Key {kid_a} stopped signing at {stopped}; id_tokens it signed stay valid until {valid_until} "
        f"(ID_TOKEN_EXPIRE_SECONDS={ID_TOKEN_SECONDS}), counted from the last instance's restart. Retire "
        "it after that; --force retires it now."
    )
    output = run("retire", "--force", "--", kid_a, at=too_early)
    assert output.splitlines() == [
        f"Key {kid_a} is retired: no longer published, its private key deleted.",
        RESTART,
    ]
    (record,) = [record for record in keys.read_manifest(keys_dir) if record.kid == kid_a]
    assert record.state == "retired"
    assert record.signing_since == start
    assert record.signing_until == start + timedelta(seconds=JWKS_MAX_AGE)
    assert record.retired == start + timedelta(seconds=too_early)
    assert not (keys_dir / f"{kid_a}.pem").exists()


def test_a_key_that_never_signed_can_be_retired_at_once(keys_dir, run):
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")

    run("retire", "--", kid_b)

    assert kid_in_state(keys_dir, "retired") == [kid_b]
    assert not (keys_dir / f"{kid_b}.pem").exists()


@pytest.mark.parametrize("action", ["activate", "retire"])
def test_an_unknown_kid_is_refused(keys_dir, refusal, action):
    assert refusal(action, "--force", "no-such-kid") == f"No key 'no-such-kid' in {keys_dir / 'keys.json'}."


def test_a_retired_key_cannot_be_activated_or_retired_again(keys_dir, run, refusal):
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")
    run("retire", "--", kid_b)

    assert refusal("activate", "--force", "--", kid_b, at=JWKS_MAX_AGE) == (
        f"Key {kid_b} is retired and its private key deleted; add a new key instead."
    )
    assert refusal("retire", "--", kid_b) == f"Key {kid_b} is retired already."


def test_activating_the_signing_key_is_refused(keys_dir, refusal):
    (kid_a,) = kid_in_state(keys_dir, "signing")

    assert refusal("activate", "--", kid_a) == f"Key {kid_a} signs already."


def test_activating_a_key_whose_file_is_missing_is_refused(keys_dir, run, refusal):
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")
    (keys_dir / f"{kid_b}.pem").unlink()

    assert refusal("activate", "--force", "--", kid_b) == (
        f"{keys_dir / 'keys.json'} names key {kid_b}, but {keys_dir / kid_b}.pem is missing."
    )


def test_the_command_refuses_a_manifest_it_cannot_read(keys_dir, refusal):
    (keys_dir / keys.MANIFEST).write_text("[]")

    assert refusal("list") == f"{keys_dir / 'keys.json'} is not a version 1 signing keys manifest."


def test_the_directory_comes_from_latch_signing_keys_dir(keys_dir, monkeypatch):
    monkeypatch.setenv("LATCH_SIGNING_KEYS_DIR", str(keys_dir))
    out = StringIO()

    call_command("signing_keys", "list", stdout=out)

    (kid_a,) = kid_in_state(keys_dir, "signing")
    assert out.getvalue().splitlines()[1].split()[:2] == [kid_a, "signing"]


def test_without_a_keys_directory_the_command_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("LATCH_SIGNING_KEYS_DIR", raising=False)

    with pytest.raises(CommandError) as error:
        call_command("signing_keys", "list")

    assert str(error.value) == "LATCH_SIGNING_KEYS_DIR is not set; give the keys directory with --dir."


def test_a_failed_manifest_write_leaves_the_previous_manifest_whole(keys_dir, run, monkeypatch):
    before = (keys_dir / keys.MANIFEST).read_text()
    replace = os.replace

    def fail_on_manifest(src, dst):
        if Path(dst).name == keys.MANIFEST:
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_manifest)

    with pytest.raises(OSError, match="No space left on device"):
        run("add")

    assert (keys_dir / keys.MANIFEST).read_text() == before
    assert [path.name for path in keys_dir.iterdir() if path.name.endswith(".tmp")] == []


def test_rp_initiated_logout_accepts_an_id_token_hint_signed_by_a_published_key(
    settings, keys_dir, run, browser
):
    restart(settings, keys_dir)
    application = ApplicationFactory(post_logout_redirect_uris=["https://app.example.org/bye"])
    token_a = issue_id_token(browser, application)
    run("add")
    (kid_b,) = kid_in_state(keys_dir, "published")
    run("activate", "--", kid_b, at=JWKS_MAX_AGE)
    restart(settings, keys_dir)
    query = urlencode({"id_token_hint": token_a, "post_logout_redirect_uri": "https://app.example.org/bye"})

    page = browser.get("/oauth/logout?" + query)

    assert page.status_code == 200, page.context.get("error")
    assert "Sign out" in page.content.decode()
