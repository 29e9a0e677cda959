"""The signing key loader (apps/oauth/keys.py): every source, and a clear message for every bad one."""

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import environ
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from environ.fileaware_mapping import FileAwareMapping
from jwcrypto import jwk, jwt

from apps.oauth import keys
from tests.config.test_settings import run_manage

BASE_DIR = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def pem_of(key, encryption=None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    ).decode()


@cache
def rsa_pem(name: str, bits: int = 2048) -> str:
    """One RSA key per name, generated once per test run."""
    return pem_of(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def thumbprint(pem: str) -> str:
    """The kid DOT computes (oauth2_provider.utils.jwk_from_pem(pem).thumbprint())."""
    return jwk.JWK.from_pem(pem.encode()).thumbprint()


def make_dir(tmp_path: Path, *entries: tuple[str, str], write_files: bool = True) -> Path:
    """A keys directory holding (pem, state) pairs, written the way `signing_keys` writes them."""
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    records = []
    for pem, state in entries:
        kid = thumbprint(pem)
        if write_files:
            path = keys_dir / f"{kid}.pem"
            path.write_text(pem)
            path.chmod(0o600)
        records.append(keys.KeyRecord(kid, keys.KeyState(state), 2048, created=NOW))
    keys.write_manifest(keys_dir, records)
    return keys_dir


def write_manifest_json(keys_dir: Path, data: object) -> None:
    (keys_dir / keys.MANIFEST).write_text(json.dumps(data))


def load_error(**sources: str) -> str:
    with pytest.raises(ImproperlyConfigured) as error:
        keys.load_signing_keys(**sources)
    return str(error.value)


def env_reading(variables: dict[str, str]) -> environ.Env:
    """A FileAwareEnv over `variables` (and not the process's; no file cache between tests)."""
    env = environ.FileAwareEnv()
    env.ENVIRON = FileAwareMapping(env=variables, cache=False)
    return env


# --- Option 1: the environment -------------------------------------------------------------------


def test_the_active_key_signs_and_its_kid_is_the_thumbprint_dot_publishes():
    loaded = keys.load_signing_keys(active=rsa_pem("a"))

    assert loaded.active.kid == thumbprint(rsa_pem("a"))
    assert loaded.active.bits == 2048
    assert loaded.dot_settings() == {
        "OIDC_RSA_PRIVATE_KEY": rsa_pem("a"),
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [],
    }


def test_a_traditional_pkcs1_rsa_key_is_read_too():
    key = serialization.load_pem_private_key(rsa_pem("a").encode(), password=None)
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert pkcs1.startswith("-----BEGIN RSA PRIVATE KEY-----\n")

    assert keys.load_signing_keys(active=pkcs1).active.kid == thumbprint(rsa_pem("a"))


@pytest.mark.parametrize("separator", ["\n", ",", "\n,\n"])
def test_inactive_keys_are_every_pem_block_concatenated_or_comma_separated(separator):
    loaded = keys.load_signing_keys(active=rsa_pem("a"), inactive=rsa_pem("b") + separator + rsa_pem("c"))

    assert loaded.kids == [thumbprint(rsa_pem("a")), thumbprint(rsa_pem("b")), thumbprint(rsa_pem("c"))]
    assert loaded.dot_settings()["OIDC_RSA_PRIVATE_KEYS_INACTIVE"] == [rsa_pem("b"), rsa_pem("c")]


def test_keys_come_from_files_named_by_the_file_variables(tmp_path):
    active, inactive = tmp_path / "active.pem", tmp_path / "inactive.pem"
    active.write_text(rsa_pem("a"))
    inactive.write_text(rsa_pem("b"))
    env = env_reading(
        {"OIDC_RSA_PRIVATE_KEY_FILE": str(active), "OIDC_RSA_PRIVATE_KEYS_INACTIVE_FILE": str(inactive)}
    )

    loaded = keys.signing_keys_from_env(env)

    assert loaded.kids == [thumbprint(rsa_pem("a")), thumbprint(rsa_pem("b"))]


def test_a_key_on_one_line_with_escaped_newlines_is_read():
    env = env_reading({"OIDC_RSA_PRIVATE_KEY": rsa_pem("a").replace("\n", "\\n")})

    assert keys.signing_keys_from_env(env).active.kid == thumbprint(rsa_pem("a"))


def test_the_development_key_is_used_only_when_no_key_is_configured():
    assert keys.load_signing_keys(dev_key=lambda: rsa_pem("dev")).active.kid == thumbprint(rsa_pem("dev"))
    configured = keys.load_signing_keys(active=rsa_pem("a"), dev_key=lambda: rsa_pem("dev"))
    assert configured.kids == [thumbprint(rsa_pem("a"))]


def test_production_without_a_key_is_refused():
    assert load_error() == (
        "OIDC_RSA_PRIVATE_KEY (or OIDC_RSA_PRIVATE_KEY_FILE) must be set, or LATCH_SIGNING_KEYS_DIR to a "
        "signing keys directory. For a local try-out use `make run`, which sets LATCH_DEV_KEYS=1 to "
        "generate throw-away keys into var/."
    )


def test_inactive_keys_without_an_active_one_are_refused():
    assert load_error(inactive=rsa_pem("b")) == (
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE is set but OIDC_RSA_PRIVATE_KEY is not: one key must sign."
    )


def test_a_directory_and_environment_keys_together_are_refused(tmp_path):
    assert load_error(keys_dir=str(tmp_path), active=rsa_pem("a")) == (
        "Set either LATCH_SIGNING_KEYS_DIR or OIDC_RSA_PRIVATE_KEY (with OIDC_RSA_PRIVATE_KEYS_INACTIVE), "
        "not both."
    )


def test_a_non_rsa_key_is_refused():
    ec_pem = pem_of(ec.generate_private_key(ec.SECP256R1()))

    assert load_error(active=ec_pem) == (
        "OIDC_RSA_PRIVATE_KEY is not an RSA key; Latch signs id_tokens with RS256, which needs one."
    )


def test_a_key_shorter_than_2048_bits_is_refused():
    assert load_error(active=rsa_pem("a"), inactive=rsa_pem("short", bits=1024)) == (
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE (key 1) is an RSA-1024 key; signing keys need at least 2048 bits."
    )


def test_a_damaged_pem_is_refused():
    lines = rsa_pem("a").splitlines()
    damaged = "\n".join([lines[0], *lines[1:5], *lines[10:]])

    assert load_error(active=damaged) == "OIDC_RSA_PRIVATE_KEY is not a readable PEM private key."


def test_text_that_is_not_pem_is_refused():
    assert load_error(active="not a key") == (
        "OIDC_RSA_PRIVATE_KEY is not a readable PEM: it holds text outside '-----BEGIN ...-----' / "
        "'-----END ...-----' blocks."
    )


def test_a_public_key_is_refused():
    public = (
        serialization.load_pem_private_key(rsa_pem("a").encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    assert load_error(active=public) == "OIDC_RSA_PRIVATE_KEY holds a PUBLIC KEY, not a private key."


def test_an_encrypted_key_is_refused():
    key = serialization.load_pem_private_key(rsa_pem("a").encode(), password=None)
    encrypted = pem_of(key, serialization.BestAvailableEncryption(b"passphrase"))

    assert load_error(active=encrypted) == (
        "OIDC_RSA_PRIVATE_KEY is an encrypted private key; give it unencrypted and protect the file instead."
    )


def test_two_keys_in_the_active_variable_are_refused():
    assert load_error(active=rsa_pem("a") + rsa_pem("b")) == (
        "OIDC_RSA_PRIVATE_KEY must hold exactly one PEM private key; it holds 2."
    )


def test_the_same_key_twice_is_refused():
    kid = thumbprint(rsa_pem("a"))

    assert load_error(active=rsa_pem("a"), inactive=rsa_pem("a")) == (
        f"Key {kid} is given twice; list each key once (the signing key is published already)."
    )


def test_a_key_file_readable_by_others_is_loaded_with_a_warning(tmp_path, caplog):
    path = tmp_path / "oidc.pem"
    path.write_text(rsa_pem("a"))
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="apps.oauth.keys"):
        loaded = keys.signing_keys_from_env(env_reading({"OIDC_RSA_PRIVATE_KEY_FILE": str(path)}))

    assert loaded.active.kid == thumbprint(rsa_pem("a"))
    assert [record.getMessage() for record in caplog.records] == [
        f"signing_keys.file_mode_too_wide path={path} mode=0644: a private key file should be 0600"
    ]


def test_verification_keys_verify_a_token_signed_by_any_published_key_and_hold_no_private_part():
    signer = jwk.JWK.from_pem(rsa_pem("b").encode())
    token = jwt.JWT(header={"alg": "RS256", "kid": signer.thumbprint()}, claims={"sub": "s"})
    token.make_signed_token(signer)

    published = keys.verification_keys(rsa_pem("a"), [rsa_pem("b")])

    assert sorted(key["kid"] for key in published["keys"]) == sorted(
        [thumbprint(rsa_pem("a")), thumbprint(rsa_pem("b"))]
    )
    assert [key.has_private for key in published["keys"]] == [False, False]
    assert json.loads(jwt.JWT(key=published, jwt=token.serialize()).claims) == {"sub": "s"}
    with pytest.raises(jwt.JWTMissingKey):
        jwt.JWT(key=keys.verification_keys(rsa_pem("a"), []), jwt=token.serialize())


# --- Option 2: a keys directory --------------------------------------------------------------------


def test_a_directory_publishes_its_signing_and_published_keys_and_not_its_retired_ones(tmp_path, caplog):
    keys_dir = make_dir(
        tmp_path, (rsa_pem("a"), "published"), (rsa_pem("b"), "signing"), (rsa_pem("c"), "retired")
    )
    (keys_dir / f"{thumbprint(rsa_pem('c'))}.pem").unlink()  # retiring deletes the private key

    with caplog.at_level(logging.WARNING, logger="apps.oauth.keys"):
        loaded = keys.load_signing_keys(keys_dir=str(keys_dir))

    assert loaded.active.kid == thumbprint(rsa_pem("b"))
    assert [key.kid for key in loaded.inactive] == [thumbprint(rsa_pem("a"))]
    assert loaded.dot_settings()["OIDC_RSA_PRIVATE_KEY"] == rsa_pem("b")
    assert caplog.records == []  # 0600: no warning


def test_a_directory_key_file_readable_by_others_is_loaded_with_a_warning(tmp_path, caplog):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    path = keys_dir / f"{thumbprint(rsa_pem('a'))}.pem"
    path.chmod(0o640)

    with caplog.at_level(logging.WARNING, logger="apps.oauth.keys"):
        keys.load_signing_keys(keys_dir=str(keys_dir))

    assert [record.getMessage() for record in caplog.records] == [
        f"signing_keys.file_mode_too_wide path={path} mode=0640: a private key file should be 0600"
    ]


def test_a_keys_directory_others_may_write_is_loaded_with_a_warning(tmp_path, caplog):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    keys_dir.chmod(0o777)
    (keys_dir / keys.MANIFEST).chmod(0o664)

    with caplog.at_level(logging.WARNING, logger="apps.oauth.keys"):
        keys.load_signing_keys(keys_dir=str(keys_dir))

    warning = "signing_keys.writable_by_others path={} mode={}: only the key administrator should write it"
    assert [record.getMessage() for record in caplog.records] == [
        warning.format(keys_dir, "0777"),
        warning.format(keys_dir / "keys.json", "0664"),
    ]


def test_a_missing_directory_is_refused(tmp_path):
    assert load_error(keys_dir=str(tmp_path / "nowhere")) == (
        f"LATCH_SIGNING_KEYS_DIR={tmp_path / 'nowhere'} is not a directory."
    )


def test_a_directory_without_a_manifest_is_refused_with_how_to_create_one(tmp_path):
    assert load_error(keys_dir=str(tmp_path)) == (
        f"{tmp_path} has no keys.json. Create the first signing key with "
        f"`python -m apps.oauth.keys init {tmp_path}`."
    )


def test_a_manifest_naming_a_missing_file_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"), (rsa_pem("b"), "published"))
    missing = keys_dir / f"{thumbprint(rsa_pem('b'))}.pem"
    missing.unlink()

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} names key {thumbprint(rsa_pem('b'))}, but {missing} is missing."
    )


def test_a_key_file_holding_another_key_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    path = keys_dir / f"{thumbprint(rsa_pem('a'))}.pem"
    path.write_text(rsa_pem("b"))

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{path} holds key {thumbprint(rsa_pem('b'))}, not {thumbprint(rsa_pem('a'))}: "
        "the file was replaced or renamed."
    )


def test_an_unreadable_key_file_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    path = keys_dir / f"{thumbprint(rsa_pem('a'))}.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")

    assert load_error(keys_dir=str(keys_dir)) == f"{path} is not a readable PEM private key."


def test_a_short_key_file_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("short", bits=1024), "signing"))
    path = keys_dir / f"{thumbprint(rsa_pem('short', bits=1024))}.pem"

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{path} is an RSA-1024 key; signing keys need at least 2048 bits."
    )


def test_a_key_file_the_server_may_not_read_is_refused(tmp_path, monkeypatch):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    path = keys_dir / f"{thumbprint(rsa_pem('a'))}.pem"
    read_text = Path.read_text

    def read_denied(self: Path, *args, **kwargs) -> str:
        if self == path:  # chmod 000 would not stop root, who may run the tests
            raise PermissionError(13, "Permission denied")
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_denied)

    assert load_error(keys_dir=str(keys_dir)) == f"Cannot read {path}: Permission denied."


def test_a_manifest_that_is_not_json_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    (keys_dir / keys.MANIFEST).write_text("{not json")

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} is not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)."
    )


def test_a_manifest_of_another_version_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    write_manifest_json(keys_dir, {"version": 2, "keys": []})

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} is not a version 1 signing keys manifest."
    )


@pytest.mark.parametrize(
    ("states", "named"),
    [(["published"], "0."), (["signing", "signing"], "2 ({a}, {b}).")],
)
def test_a_manifest_without_exactly_one_signing_key_is_refused(tmp_path, states, named):
    pems = [rsa_pem("a"), rsa_pem("b")][: len(states)]
    keys_dir = make_dir(tmp_path, *zip(pems, states, strict=True))

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} must name exactly one key in state 'signing'; it names "
        + named.format(a=thumbprint(rsa_pem("a")), b=thumbprint(rsa_pem("b")))
    )


def test_a_manifest_kid_that_is_a_path_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    write_manifest_json(
        keys_dir,
        {"version": 1, "keys": [{"kid": "../../etc/x", "state": "signing", "bits": 2048, "created": "2026"}]},
    )

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} key 1: '../../etc/x' is not a kid (a 43-character JWK thumbprint)."
    )


def test_a_manifest_with_an_unknown_state_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    data = json.loads((keys_dir / keys.MANIFEST).read_text())
    data["keys"][0]["state"] = "active"
    write_manifest_json(keys_dir, data)

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} key 1 ({thumbprint(rsa_pem('a'))}): unknown state 'active'; "
        "use one of signing, published, retired."
    )


def test_a_manifest_listing_a_key_twice_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    data = json.loads((keys_dir / keys.MANIFEST).read_text())
    data["keys"].append({**data["keys"][0], "state": "published"})
    write_manifest_json(keys_dir, data)

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} lists key {thumbprint(rsa_pem('a'))} more than once."
    )


def test_a_manifest_time_without_an_offset_is_refused(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    data = json.loads((keys_dir / keys.MANIFEST).read_text())
    data["keys"][0]["created"] = "2026-05-01T12:00:00"
    write_manifest_json(keys_dir, data)

    assert load_error(keys_dir=str(keys_dir)) == (
        f"{keys_dir / 'keys.json'} key 1 ({thumbprint(rsa_pem('a'))}) created: '2026-05-01T12:00:00' is "
        "not an ISO 8601 time with a UTC offset."
    )


# --- The first key: `python -m apps.oauth.keys init`, and settings reading the directory -----------


def run_init(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "apps.oauth.keys", "init", *args],
        cwd=BASE_DIR,
        env={"PATH": os.environ.get("PATH", "")},  # no Django settings: init must not need them
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_creates_a_directory_whose_new_key_signs(tmp_path):
    keys_dir = tmp_path / "keys"

    result = run_init(str(keys_dir))

    assert result.returncode == 0, result.stderr
    (record,) = keys.read_manifest(keys_dir)
    assert record.state is keys.KeyState.SIGNING
    assert record.bits == 2048
    assert oct((keys_dir / f"{record.kid}.pem").stat().st_mode & 0o777) == "0o600"
    assert oct(keys_dir.stat().st_mode & 0o777) == "0o700"
    assert result.stdout.splitlines()[0] == f"{keys_dir}: key {record.kid} (RSA-2048) signs."


def test_init_adopts_an_existing_key_so_its_kid_does_not_change(tmp_path):
    existing = tmp_path / "oidc.pem"
    existing.write_text(rsa_pem("a"))

    result = run_init(str(tmp_path / "keys"), "--from-pem", str(existing))

    assert result.returncode == 0, result.stderr
    loaded = keys.load_signing_keys(keys_dir=str(tmp_path / "keys"))
    assert loaded.kids == [thumbprint(rsa_pem("a"))]


def test_init_refuses_a_directory_that_has_keys_already(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "signing"))
    before = (keys_dir / keys.MANIFEST).read_text()

    result = run_init(str(keys_dir))

    assert result.returncode == 1
    assert result.stderr == (
        f"error: {keys_dir / 'keys.json'} exists already; add keys with `signing_keys add`.\n"
    )
    assert (keys_dir / keys.MANIFEST).read_text() == before


def test_settings_give_dot_the_keys_of_the_directory(tmp_path):
    keys_dir = make_dir(tmp_path, (rsa_pem("a"), "published"), (rsa_pem("b"), "signing"))
    show = (
        "from oauth2_provider.settings import oauth2_settings as s; "
        "from apps.oauth.keys import keys_from_pems; "
        "print(keys_from_pems(s.OIDC_RSA_PRIVATE_KEY, ','.join(s.OIDC_RSA_PRIVATE_KEYS_INACTIVE)).kids)"
    )

    result = run_manage("shell", "-c", show, DJANGO_SECRET_KEY="x" * 60, LATCH_SIGNING_KEYS_DIR=str(keys_dir))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str([thumbprint(rsa_pem("b")), thumbprint(rsa_pem("a"))])


def test_settings_refuse_to_start_on_a_bad_keys_directory(tmp_path):
    result = run_manage("check", DJANGO_SECRET_KEY="x" * 60, LATCH_SIGNING_KEYS_DIR=str(tmp_path))

    assert result.returncode != 0
    assert (
        f"django.core.exceptions.ImproperlyConfigured: {tmp_path} has no keys.json. Create the first "
        f"signing key with `python -m apps.oauth.keys init {tmp_path}`." in result.stderr
    )
