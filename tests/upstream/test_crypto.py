"""The vault's cipher and keys (apps/upstream/crypto.py): AES-256-GCM, bound to a context, under a kid."""

import base64

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured
from environ.fileaware_mapping import FileAwareMapping

from apps.upstream import crypto
from tests.config.test_settings import run_manage
from tests.upstream.factories import key_text, vault_keys

CONTEXT = ["upstream.connection", "0b7c", "access_token"]


def test_round_trip_and_every_encryption_is_different():
    keys = vault_keys("k1")

    first = crypto.encrypt("ya29.secret-token", context=CONTEXT, keys=keys)
    second = crypto.encrypt("ya29.secret-token", context=CONTEXT, keys=keys)

    assert first != second  # a fresh 96-bit nonce each time
    assert "secret-token" not in first
    assert crypto.decrypt(first, context=CONTEXT, keys=keys) == "ya29.secret-token"
    assert crypto.decrypt(second, context=CONTEXT, keys=keys) == "ya29.secret-token"


def test_blob_holds_version_kid_nonce_and_ciphertext():
    blob = crypto.encrypt("ünïcode ✓", context=CONTEXT, keys=vault_keys("k1"))

    version, kid, nonce, ciphertext = blob.split(":")
    assert (version, kid) == ("v1", "k1")
    assert len(base64.urlsafe_b64decode(nonce + "==")) == 12
    # The UTF-8 plaintext plus GCM's 16-byte tag.
    assert len(base64.urlsafe_b64decode(ciphertext + "==")) == len("ünïcode ✓".encode()) + 16
    assert crypto.blob_kid(blob) == "k1"
    assert crypto.decrypt(blob, context=CONTEXT, keys=vault_keys("k1")) == "ünïcode ✓"


def test_empty_stays_empty():
    assert crypto.encrypt("", context=CONTEXT, keys=vault_keys("k1")) == ""
    assert crypto.decrypt("", context=CONTEXT, keys=vault_keys("k1")) == ""


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize("part", [2, 3], ids=["nonce", "ciphertext"])
def test_any_change_to_nonce_or_ciphertext_is_detected(part):
    keys = vault_keys("k1")
    parts = crypto.encrypt("refresh-token", context=CONTEXT, keys=keys).split(":")
    parts[part] = flip(parts[part], 5)

    with pytest.raises(crypto.VaultError, match="changed, or copied"):
        crypto.decrypt(":".join(parts), context=CONTEXT, keys=keys)


def test_a_truncated_tag_is_detected():
    keys = vault_keys("k1")
    blob = crypto.encrypt("refresh-token", context=CONTEXT, keys=keys)

    with pytest.raises(crypto.VaultError):
        crypto.decrypt(blob[:-4], context=CONTEXT, keys=keys)


def test_changing_the_kid_to_another_key_is_detected():
    keys = vault_keys("k1", "k2")
    blob = crypto.encrypt("refresh-token", context=CONTEXT, keys=keys)

    with pytest.raises(crypto.VaultError):
        crypto.decrypt(blob.replace("v1:k1:", "v1:k2:"), context=CONTEXT, keys=keys)


@pytest.mark.parametrize(
    "other",
    [
        ["upstream.connection", "0b7d", "access_token"],  # another row
        ["upstream.connection", "0b7c", "refresh_token"],  # another field
        ["upstream.upstreamprovider", "0b7c", "access_token"],  # another model
        ["upstream.connection", "0b7c", "access_token", "user_id=2"],  # more context
        ["upstream.connection", "0b7", "caccess_token"],  # the same characters, split differently
    ],
)
def test_a_blob_decrypts_only_in_its_own_context(other):
    keys = vault_keys("k1")
    blob = crypto.encrypt("token", context=CONTEXT, keys=keys)

    with pytest.raises(crypto.VaultError):
        crypto.decrypt(blob, context=other, keys=keys)


def test_an_old_key_keeps_decrypting_after_a_new_one_becomes_current():
    before = vault_keys("old")
    blob = crypto.encrypt("token", context=CONTEXT, keys=before)
    after = vault_keys("old", "new", current="new")

    assert crypto.decrypt(blob, context=CONTEXT, keys=after) == "token"
    assert crypto.blob_kid(crypto.encrypt("token", context=CONTEXT, keys=after)) == "new"


def test_a_removed_key_is_named_when_its_values_do_not_decrypt():
    blob = crypto.encrypt("token", context=CONTEXT, keys=vault_keys("old"))

    with pytest.raises(crypto.UnknownKey, match="'old', which is not in LATCH_VAULT_KEYS"):
        crypto.decrypt(blob, context=CONTEXT, keys=vault_keys("new"))


@pytest.mark.parametrize(
    "value", ["plain-token", "v1:k1:short:x", "v1:k1:" + "A" * 16 + ":" + "A" * 30 + "!"]
)
def test_something_that_is_not_a_blob_is_refused(value):
    with pytest.raises(crypto.VaultError, match="not a vault value"):
        crypto.decrypt(value, context=CONTEXT, keys=vault_keys("k1"))
    assert not crypto.is_blob(value)


def test_keys_never_appear_in_repr():
    keys = crypto.parse_vault_keys(key_text("k1"), "k1")

    assert "keys=" not in repr(keys)
    assert key_text("k1").split(":")[1] not in repr(keys)


# --- LATCH_VAULT_KEYS and LATCH_VAULT_CURRENT_KEY ---------------------------------------------------


def b64(raw: bytes, alphabet: str = "standard") -> str:
    encode = base64.urlsafe_b64encode if alphabet == "urlsafe" else base64.b64encode
    return encode(raw).decode()


def test_parse_reads_several_keys_in_either_alphabet_and_any_separator():
    raw = bytes(range(200, 232))  # bytes whose base64 differs between the two alphabets
    text = f"a:{b64(raw)},\n b:{b64(raw[::-1], 'urlsafe').rstrip('=')}\n"

    keys = crypto.parse_vault_keys(text, "b")

    assert keys.current == "b"
    assert keys.kids == ["a", "b"]
    assert keys.keys == {"a": raw, "b": raw[::-1]}


@pytest.mark.parametrize(
    ("keys", "current", "message"),
    [
        ("", "k1", "LATCH_VAULT_KEYS (or LATCH_VAULT_KEYS_FILE) must be set"),
        ("  ,\n", "k1", "LATCH_VAULT_KEYS (or LATCH_VAULT_KEYS_FILE) must be set"),
        ("k1", "k1", "entry 1 is not `kid:base64-key`"),
        ("k1:", "k1", "entry 1 is not `kid:base64-key`"),
        (f"{key_text('k1')},k2:{b64(b'x' * 16)}", "k1", "key 'k2' is 16 bytes; AES-256 needs exactly 32"),
        (f"k1:{b64(b'x' * 33)}", "k1", "key 'k1' is 33 bytes"),
        ("k1:not*base64!", "k1", "key 'k1' is not base64"),
        (f"bad.kid:{b64(b'x' * 32)}", "bad.kid", "entry 1 has kid 'bad.kid'"),
        (f"{key_text('k1')},{key_text('k1')}", "k1", "names key 'k1' twice"),
        (key_text("k1"), "", "LATCH_VAULT_CURRENT_KEY must be set: it names the key in LATCH_VAULT_KEYS"),
        (f"{key_text('k1')},{key_text('k2')}", "k3", "LATCH_VAULT_CURRENT_KEY='k3' is not among the keys"),
    ],
)
def test_parse_refuses_bad_configuration_with_a_clear_message(keys, current, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        crypto.parse_vault_keys(keys, current)
    # The message never repeats a key.
    for entry in keys.split(","):
        secret = entry.partition(":")[2]
        if len(secret) > 8:
            assert secret not in str(error.value)


def env_reading(variables: dict[str, str]) -> environ.Env:
    env = environ.FileAwareEnv()
    env.ENVIRON = FileAwareMapping(env=variables)
    return env


def test_keys_can_come_from_a_file(tmp_path):
    path = tmp_path / "vault-keys"
    path.write_text(f"{key_text('k1')}\n{key_text('k2')}\n")

    keys = crypto.vault_keys_from_env(
        env_reading({"LATCH_VAULT_KEYS_FILE": str(path), "LATCH_VAULT_CURRENT_KEY": "k2"})
    )

    assert (keys.current, keys.kids) == ("k2", ["k1", "k2"])


def test_dev_keys_are_used_only_when_none_are_configured(tmp_path):
    dev = lambda: key_text("dev")  # noqa: E731

    generated = crypto.vault_keys_from_env(env_reading({}), dev_keys=dev)
    configured = crypto.vault_keys_from_env(
        env_reading({"LATCH_VAULT_KEYS": key_text("k1"), "LATCH_VAULT_CURRENT_KEY": "k1"}), dev_keys=dev
    )

    assert (generated.current, generated.kids) == ("dev", ["dev"])
    assert (configured.current, configured.kids) == ("k1", ["k1"])
    with pytest.raises(ImproperlyConfigured):
        crypto.vault_keys_from_env(env_reading({}))


def test_dev_vault_key_is_generated_once_into_var(tmp_path):
    from config.devkeys import dev_vault_keys

    first = dev_vault_keys(tmp_path)

    assert dev_vault_keys(tmp_path) == first
    assert crypto.parse_vault_keys(first, "dev").kids == ["dev"]
    assert (tmp_path / "dev-vault-keys").stat().st_mode & 0o077 == 0


def test_generated_key_entries_parse():
    entry = crypto.generate_key_entry("2027-01")

    assert crypto.parse_vault_keys(entry, "2027-01").kids == ["2027-01"]


def test_production_refuses_to_start_without_vault_keys():
    result = run_manage("check", DJANGO_SECRET_KEY="x" * 60, LATCH_DEV_KEYS="1", LATCH_VAULT_KEYS="")

    assert result.returncode == 0, result.stderr  # development: a throw-away key
    result = run_manage(
        "check",
        DJANGO_SECRET_KEY="x" * 60,
        LATCH_SIGNING_KEYS_DIR="",
        OIDC_RSA_PRIVATE_KEY=_dev_pem(),
        LATCH_VAULT_KEYS="",
        DJANGO_ALLOWED_HOSTS="latch.example.org",
    )

    assert result.returncode != 0
    assert "LATCH_VAULT_KEYS (or LATCH_VAULT_KEYS_FILE) must be set" in result.stderr


def test_production_refuses_to_start_when_the_current_key_is_not_configured():
    result = run_manage(
        "check",
        DJANGO_SECRET_KEY="x" * 60,
        OIDC_RSA_PRIVATE_KEY=_dev_pem(),
        LATCH_VAULT_KEYS=key_text("k1"),
        LATCH_VAULT_CURRENT_KEY="k2",
        DJANGO_ALLOWED_HOSTS="latch.example.org",
    )

    assert result.returncode != 0
    assert "LATCH_VAULT_CURRENT_KEY='k2' is not among the keys in LATCH_VAULT_KEYS (k1)" in result.stderr


def _dev_pem() -> str:
    from django.conf import settings

    return settings.OIDC_SIGNING_KEYS.active.pem
