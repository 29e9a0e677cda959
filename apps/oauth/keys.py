"""OIDC signing keys: where Latch reads them from, what it checks, and how a keys directory rotates.

Production gives Latch its keys in one of two ways, never from the repository:

- The environment: `OIDC_RSA_PRIVATE_KEY` signs id_tokens; `OIDC_RSA_PRIVATE_KEYS_INACTIVE` (any number
  of PEM blocks, concatenated or comma-separated) are published for verification only. Either may be
  given as `*_FILE`, which `environ.FileAwareEnv` reads.
- `LATCH_SIGNING_KEYS_DIR`: a directory of `<kid>.pem` files and `keys.json`, the manifest that says
  which key signs, which are still published and which are retired. `python -m apps.oauth.keys init`
  creates it; `python manage.py signing_keys` rotates it.

The kid is the key's RFC 7638 JWK thumbprint, which is what DOT writes in the id_token header and in
the JWKS (`oauth2_provider.views.oidc.JwksInfoView`).

Settings call this module, because DOT reads its keys from the OAUTH2_PROVIDER dict; so it imports no
Django model and works before Django is set up. Each process reads the keys once, at start-up: DOT has
no documented way to re-read them, so a change takes effect when the instances restart.
"""

import argparse
import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import environ
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from jwcrypto import jwk

logger = logging.getLogger(__name__)

ACTIVE_VARIABLE = "OIDC_RSA_PRIVATE_KEY"
INACTIVE_VARIABLE = "OIDC_RSA_PRIVATE_KEYS_INACTIVE"
KEYS_DIR_VARIABLE = "LATCH_SIGNING_KEYS_DIR"
MANIFEST = "keys.json"
MANIFEST_VERSION = 1
MIN_BITS = 2048
GENERATED_BITS = (2048, 3072, 4096)
# An RFC 7638 SHA-256 thumbprint, base64url without padding; this is also what makes `<kid>.pem` a
# safe file name (a manifest naming "../x" is refused, not followed).
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
INIT_COMMAND = "python -m apps.oauth.keys init"


class KeyState(StrEnum):
    SIGNING = "signing"  # signs new id_tokens, and is published
    PUBLISHED = "published"  # in the JWKS for verification only
    RETIRED = "retired"  # no longer published; its private key file is deleted


class RotationRefused(Exception):
    """A change to the keys directory that would break tokens relying parties hold, or makes no sense."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    pem: str = field(repr=False)  # never in a log line, diffsettings or an error page
    bits: int = 0


@dataclass(frozen=True)
class SigningKeys:
    """The key that signs and the keys only published, as DOT's two settings want them."""

    active: SigningKey
    inactive: tuple[SigningKey, ...] = ()

    @property
    def inactive_pems(self) -> list[str]:
        return [key.pem for key in self.inactive]

    @property
    def kids(self) -> list[str]:
        return [self.active.kid, *(key.kid for key in self.inactive)]

    def dot_settings(self) -> dict[str, Any]:
        return {"OIDC_RSA_PRIVATE_KEY": self.active.pem, "OIDC_RSA_PRIVATE_KEYS_INACTIVE": self.inactive_pems}


@dataclass(frozen=True)
class KeyRecord:
    """One key's line in keys.json. `signing_until` is when it last stopped signing."""

    kid: str
    state: KeyState
    bits: int
    created: datetime
    signing_since: datetime | None = None
    signing_until: datetime | None = None
    retired: datetime | None = None


# --- Reading and checking keys -------------------------------------------------------------------


def split_pem_blocks(text: str, *, source: str) -> list[tuple[str, str]]:
    """The (label, block) of each PEM block in `text`; anything else but whitespace and commas is an error."""
    blocks = [(match.group(1), match.group(0)) for match in PEM_BLOCK.finditer(text)]
    if PEM_BLOCK.sub("", text).strip(" \t\r\n,"):
        raise ImproperlyConfigured(
            f"{source} is not a readable PEM: it holds text outside '-----BEGIN ...-----' / "
            "'-----END ...-----' blocks."
        )
    return blocks


def parse_key(label: str, block: str, *, source: str) -> SigningKey:
    """An unencrypted RSA private key of at least MIN_BITS, or ImproperlyConfigured saying why not."""
    if not label.endswith("PRIVATE KEY"):
        raise ImproperlyConfigured(f"{source} holds a {label}, not a private key.")
    try:
        key = serialization.load_pem_private_key(block.encode("ascii"), password=None)
    except TypeError as exc:
        raise ImproperlyConfigured(
            f"{source} is an encrypted private key; give it unencrypted and protect the file instead."
        ) from exc
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ImproperlyConfigured(f"{source} is not a readable PEM private key.") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured(
            f"{source} is not an RSA key; Latch signs id_tokens with RS256, which needs one."
        )
    if key.key_size < MIN_BITS:
        raise ImproperlyConfigured(
            f"{source} is an RSA-{key.key_size} key; signing keys need at least {MIN_BITS} bits."
        )
    kid = jwk.JWK.from_pyca(key).thumbprint()
    return SigningKey(kid=kid, pem=block.strip() + "\n", bits=key.key_size)


def parse_one_key(text: str, *, source: str) -> SigningKey:
    blocks = split_pem_blocks(text, source=source)
    if len(blocks) != 1:
        raise ImproperlyConfigured(f"{source} must hold exactly one PEM private key; it holds {len(blocks)}.")
    return parse_key(*blocks[0], source=source)


def _distinct(active: SigningKey, inactive: list[SigningKey]) -> SigningKeys:
    seen = {active.kid}
    for key in inactive:
        if key.kid in seen:
            raise ImproperlyConfigured(
                f"Key {key.kid} is given twice; list each key once (the signing key is published already)."
            )
        seen.add(key.kid)
    return SigningKeys(active=active, inactive=tuple(inactive))


def keys_from_pems(active: str, inactive: str = "") -> SigningKeys:
    """Option 1: the PEM text of OIDC_RSA_PRIVATE_KEY and of OIDC_RSA_PRIVATE_KEYS_INACTIVE."""
    signing = parse_one_key(active, source=ACTIVE_VARIABLE)
    blocks = split_pem_blocks(inactive, source=INACTIVE_VARIABLE)
    published = [
        parse_key(label, block, source=f"{INACTIVE_VARIABLE} (key {number})")
        for number, (label, block) in enumerate(blocks, start=1)
    ]
    return _distinct(signing, published)


def verification_keys(active: str, inactive: list[str]) -> jwk.JWKSet:
    """The public half of DOT's two key settings, each under its kid: what the JWKS publishes.

    For verifying Latch's own id_tokens (an id_token_hint) with every published key, not only the one
    signing now: jwcrypto picks the key by the token's `kid`.
    """
    published = jwk.JWKSet()
    for pem in [active, *inactive]:
        published.add(jwk.JWK(**_public_jwk(pem)))
    return published


@functools.lru_cache(maxsize=16)
def _public_jwk(pem: str) -> dict[str, str]:
    """Parsing an RSA key costs milliseconds; a process has a handful of keys, for its lifetime."""
    key = jwk.JWK.from_pem(pem.encode("ascii"))
    return {**key.export_public(as_dict=True), "kid": key.thumbprint()}


def warn_if_readable_by_others(path: Path) -> None:
    """A private key file should be 0600 (or 0400); wider is allowed (a group-shared volume) but warned of."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        logger.warning(
            "signing_keys.file_mode_too_wide path=%s mode=%04o: a private key file should be 0600", path, mode
        )


def warn_if_writable_by_others(path: Path) -> None:
    """Whoever can write the keys directory or its manifest chooses the key Latch signs with."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o022:
        logger.warning(
            "signing_keys.writable_by_others path=%s mode=%04o: only the key administrator should write it",
            path,
            mode,
        )


def _timestamp(value: object, *, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ImproperlyConfigured(f"{where}: {value!r} is not an ISO 8601 time with a UTC offset.")
    return parsed


def _record(entry: object, *, where: str) -> KeyRecord:
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"{where} is not an object.")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise ImproperlyConfigured(f"{where}: {kid!r} is not a kid (a 43-character JWK thumbprint).")
    if entry.get("state") not in tuple(KeyState):
        raise ImproperlyConfigured(
            f"{where} ({kid}): unknown state {entry.get('state')!r}; use one of "
            + ", ".join(state.value for state in KeyState)
            + "."
        )
    state = KeyState(entry["state"])
    bits = entry.get("bits")
    if not isinstance(bits, int):
        raise ImproperlyConfigured(f"{where} ({kid}): 'bits' must be a number.")
    created = _timestamp(entry.get("created"), where=f"{where} ({kid}) created")
    if created is None:
        raise ImproperlyConfigured(f"{where} ({kid}): 'created' is missing.")
    return KeyRecord(
        kid=kid,
        state=state,
        bits=bits,
        created=created,
        signing_since=_timestamp(entry.get("signing_since"), where=f"{where} ({kid}) signing_since"),
        signing_until=_timestamp(entry.get("signing_until"), where=f"{where} ({kid}) signing_until"),
        retired=_timestamp(entry.get("retired"), where=f"{where} ({kid}) retired"),
    )


def read_manifest(keys_dir: Path) -> list[KeyRecord]:
    """keys.json, checked: known states, distinct kids, exactly one signing key."""
    if not keys_dir.is_dir():
        raise ImproperlyConfigured(f"{KEYS_DIR_VARIABLE}={keys_dir} is not a directory.")
    path = keys_dir / MANIFEST
    warn_if_writable_by_others(keys_dir)
    warn_if_writable_by_others(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"{keys_dir} has no {MANIFEST}. Create the first signing key with `{INIT_COMMAND} {keys_dir}`."
        ) from None
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise ImproperlyConfigured(f"{path} is not a version {MANIFEST_VERSION} signing keys manifest.")
    entries = data.get("keys")
    if not isinstance(entries, list):
        raise ImproperlyConfigured(f"{path}: 'keys' must be a list.")
    records = [_record(entry, where=f"{path} key {number}") for number, entry in enumerate(entries, 1)]
    kids = [record.kid for record in records]
    if duplicates := sorted({kid for kid in kids if kids.count(kid) > 1}):
        raise ImproperlyConfigured(f"{path} lists key {duplicates[0]} more than once.")
    signing = [record.kid for record in records if record.state is KeyState.SIGNING]
    if len(signing) != 1:
        raise ImproperlyConfigured(
            f"{path} must name exactly one key in state 'signing'; it names {len(signing)}"
            + (f" ({', '.join(signing)})." if signing else ".")
        )
    return records


def read_key_file(keys_dir: Path, kid: str) -> SigningKey:
    """`<kid>.pem`, which must exist, be readable, and hold the key with that thumbprint."""
    path = keys_dir / f"{kid}.pem"
    if not path.is_file():
        raise ImproperlyConfigured(f"{keys_dir / MANIFEST} names key {kid}, but {path} is missing.")
    warn_if_readable_by_others(path)
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise ImproperlyConfigured(f"{path} is not a readable PEM private key.") from None
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read {path}: {exc.strerror}.") from exc
    key = parse_one_key(text, source=str(path))
    if key.kid != kid:
        raise ImproperlyConfigured(
            f"{path} holds key {key.kid}, not {kid}: the file was replaced or renamed."
        )
    return key


def keys_from_dir(keys_dir: Path) -> SigningKeys:
    """Option 2: the signing and published keys named by keys.json; retired keys are left out."""
    records = read_manifest(keys_dir)
    signing = next(record for record in records if record.state is KeyState.SIGNING)
    published = [record for record in records if record.state is KeyState.PUBLISHED]
    return _distinct(
        read_key_file(keys_dir, signing.kid), [read_key_file(keys_dir, record.kid) for record in published]
    )


def load_signing_keys(
    *, keys_dir: str = "", active: str = "", inactive: str = "", dev_key: Callable[[], str] | None = None
) -> SigningKeys:
    """The keys from whichever source is configured; `dev_key` (LATCH_DEV_KEYS=1) only when none is."""
    if keys_dir and (active or inactive):
        raise ImproperlyConfigured(
            f"Set either {KEYS_DIR_VARIABLE} or {ACTIVE_VARIABLE} (with {INACTIVE_VARIABLE}), not both."
        )
    if keys_dir:
        return keys_from_dir(Path(keys_dir))
    if inactive and not active:
        raise ImproperlyConfigured(
            f"{INACTIVE_VARIABLE} is set but {ACTIVE_VARIABLE} is not: one key must sign."
        )
    if active:
        return keys_from_pems(active, inactive)
    if dev_key is not None:
        return keys_from_pems(dev_key())
    raise ImproperlyConfigured(
        f"{ACTIVE_VARIABLE} (or {ACTIVE_VARIABLE}_FILE) must be set, or {KEYS_DIR_VARIABLE} to a signing "
        "keys directory. For a local try-out use `make run`, which sets LATCH_DEV_KEYS=1 to generate "
        "throw-away keys into var/."
    )


def signing_keys_from_env(env: environ.Env, *, dev_key: Callable[[], str] | None = None) -> SigningKeys:
    """What config/settings.py calls. `multiline` turns a literal `\\n` (a PEM on one line) into a newline."""
    for name in (ACTIVE_VARIABLE, INACTIVE_VARIABLE):
        if path := env.str(f"{name}_FILE", default=""):
            warn_if_readable_by_others(Path(path))
    return load_signing_keys(
        keys_dir=env.str(KEYS_DIR_VARIABLE, default=""),
        active=env.str(ACTIVE_VARIABLE, default="", multiline=True),
        inactive=env.str(INACTIVE_VARIABLE, default="", multiline=True),
        dev_key=dev_key,
    )


# --- Changing a keys directory -------------------------------------------------------------------
# Every write goes to a temporary file in the same directory, then is renamed over the target: a
# starting instance reads the old manifest or the new one, never half of one. A key file is written
# before the manifest names it, and deleted only after the manifest stops naming it.


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def write_manifest(keys_dir: Path, records: list[KeyRecord]) -> None:
    data = {
        "version": MANIFEST_VERSION,
        "keys": [
            {
                "kid": record.kid,
                "state": record.state.value,
                "bits": record.bits,
                "created": _iso(record.created),
                "signing_since": _iso(record.signing_since),
                "signing_until": _iso(record.signing_until),
                "retired": _iso(record.retired),
            }
            for record in records
        ],
    }
    # Not secret: it holds kids and dates. Readable by instances running as another user of the group.
    write_atomically(keys_dir / MANIFEST, (json.dumps(data, indent=2) + "\n").encode(), mode=0o644)


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    """One change at a time: two operators rotating at once would otherwise lose one's change."""
    fd = os.open(keys_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def generate_pem(bits: int) -> str:
    if bits not in GENERATED_BITS:
        raise RotationRefused(
            f"Keys are RSA-{'/'.join(map(str, GENERATED_BITS))}; {bits} is not one of them."
        )
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _write_key(keys_dir: Path, key: SigningKey) -> None:
    write_atomically(keys_dir / f"{key.kid}.pem", key.pem.encode("ascii"), mode=0o600)


def _find(records: list[KeyRecord], kid: str, keys_dir: Path) -> KeyRecord:
    for record in records:
        if record.kid == kid:
            return record
    raise RotationRefused(f"No key {kid!r} in {keys_dir / MANIFEST}.")


def init_keys(keys_dir: Path, *, now: datetime, bits: int = 2048, pem: str | None = None) -> KeyRecord:
    """Create a keys directory whose first key signs: a new one, or `pem` (today's key, kept by its kid)."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(keys_dir):
        if (keys_dir / MANIFEST).exists():
            raise RotationRefused(f"{keys_dir / MANIFEST} exists already; add keys with `signing_keys add`.")
        key = parse_one_key(pem if pem is not None else generate_pem(bits), source="the initial key")
        _write_key(keys_dir, key)
        record = KeyRecord(key.kid, KeyState.SIGNING, key.bits, created=now, signing_since=now)
        write_manifest(keys_dir, [record])
    return record


def add_key(keys_dir: Path, *, now: datetime, bits: int = 2048) -> KeyRecord:
    """A new key, published but not signing, so relying parties can fetch it before it is used."""
    with _locked(keys_dir):
        records = read_manifest(keys_dir)
        key = parse_one_key(generate_pem(bits), source="the generated key")
        _write_key(keys_dir, key)
        record = KeyRecord(key.kid, KeyState.PUBLISHED, key.bits, created=now)
        write_manifest(keys_dir, [*records, record])
    return record


def activate_key(
    keys_dir: Path, kid: str, *, now: datetime, jwks_max_age: int, force: bool = False
) -> KeyRecord:
    """`kid` signs from now on; the key that signed stays published. Returns the previous signing key.

    Refused (unless `force`) for a key added less than `jwks_max_age` seconds ago: a relying party
    holding a JWKS cached before the key was published would reject the id_tokens it signs.
    """
    with _locked(keys_dir):
        records = read_manifest(keys_dir)
        target = _find(records, kid, keys_dir)
        if target.state is KeyState.SIGNING:
            raise RotationRefused(f"Key {kid} signs already.")
        if target.state is KeyState.RETIRED:
            raise RotationRefused(f"Key {kid} is retired and its private key deleted; add a new key instead.")
        published_for = now - target.created
        if not force and published_for < timedelta(seconds=jwks_max_age):
            raise RotationRefused(
                f"Key {kid} was added {int(published_for.total_seconds())} s ago. Relying parties cache "
                f"the JWKS for up to {jwks_max_age} s (OIDC_JWKS_MAX_AGE_SECONDS) and would reject "
                "id_tokens it signs until they fetch it again: restart every instance after `add`, wait "
                "that long, then activate. --force activates it now."
            )
        read_key_file(keys_dir, kid)  # never switch to a key the instances could not load
        previous = next(record for record in records if record.state is KeyState.SIGNING)
        updated = []
        for record in records:
            if record.kid == kid:
                record = replace(record, state=KeyState.SIGNING, signing_since=now, signing_until=None)
            elif record.kid == previous.kid:
                record = replace(record, state=KeyState.PUBLISHED, signing_until=now)
            updated.append(record)
        write_manifest(keys_dir, updated)
    return previous


def retire_key(
    keys_dir: Path, kid: str, *, now: datetime, id_token_lifetime: int, force: bool = False
) -> KeyRecord:
    """Stop publishing `kid` and delete its private key; the manifest keeps its dates.

    Refused for the signing key, and (unless `force`) for a key that signed id_tokens less than
    `id_token_lifetime` seconds ago: those tokens would stop verifying before they expire.
    """
    with _locked(keys_dir):
        records = read_manifest(keys_dir)
        target = _find(records, kid, keys_dir)
        if target.state is KeyState.SIGNING:
            raise RotationRefused(f"Key {kid} signs id_tokens; activate another key before retiring it.")
        if target.state is KeyState.RETIRED:
            raise RotationRefused(f"Key {kid} is retired already.")
        if target.signing_until is not None and not force:
            valid_until = target.signing_until + timedelta(seconds=id_token_lifetime)
            if now < valid_until:
                raise RotationRefused(
                    f"Key {kid} stopped signing at {_iso(target.signing_until)}; id_tokens it signed stay "
                    f"valid until {_iso(valid_until)} (ID_TOKEN_EXPIRE_SECONDS={id_token_lifetime}), "
                    "counted from the last instance's restart. Retire it after that; --force retires it now."
                )
        updated = [
            replace(record, state=KeyState.RETIRED, retired=now) if record.kid == kid else record
            for record in records
        ]
        write_manifest(keys_dir, updated)
        (keys_dir / f"{kid}.pem").unlink(missing_ok=True)
        _sync_dir(keys_dir)
    return replace(target, state=KeyState.RETIRED, retired=now)


# --- `python -m apps.oauth.keys init`: the first key, before settings can load ------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.oauth.keys",
        description=f"Create a signing keys directory ({KEYS_DIR_VARIABLE}) with its first, signing key. "
        "It runs without Django settings, which cannot load until the directory has a key; after this, "
        "`python manage.py signing_keys` rotates the keys.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the directory, its manifest and the signing key")
    init.add_argument("directory", type=Path)
    init.add_argument("--bits", type=int, choices=GENERATED_BITS, default=2048)
    init.add_argument(
        "--from-pem",
        type=Path,
        metavar="FILE",
        help=f"adopt this key (today's {ACTIVE_VARIABLE}) instead of generating one, so id_tokens it "
        "signed keep verifying",
    )
    args = parser.parse_args(argv)
    try:
        pem = args.from_pem.read_text(encoding="ascii") if args.from_pem else None
        record = init_keys(args.directory, now=datetime.now(UTC), bits=args.bits, pem=pem)
    except (ImproperlyConfigured, RotationRefused, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.directory}: key {record.kid} (RSA-{record.bits}) signs.")
    print(f"Set {KEYS_DIR_VARIABLE}={args.directory} for every instance and (re)start them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
