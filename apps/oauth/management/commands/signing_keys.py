import os
from datetime import UTC, datetime
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from apps.oauth import keys

RESTART = (
    "Restart every Latch instance to load this change (gunicorn: send the master HUP, unless it runs "
    "with --preload): each instance reads the signing keys once, at start-up."
)
KID_HELP = "the key's kid, as `list` shows it; after `--` when it starts with a dash"


def _arg(kid: str) -> str:
    """A kid may start with "-" (it is base64url); after "--" argparse does not take it for an option."""
    return f"-- {kid}" if kid.startswith("-") else kid


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Command(BaseCommand):
    help = (
        f"Rotate the OIDC signing keys in {keys.KEYS_DIR_VARIABLE}: list them, add a key (published, "
        "not signing), activate it (it signs; the previous key stays published), retire a key (no longer "
        f"published). The first key comes from `{keys.INIT_COMMAND} DIR`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=os.environ.get(keys.KEYS_DIR_VARIABLE) or None,
            help=f"the keys directory (default: ${keys.KEYS_DIR_VARIABLE})",
        )
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="every key: kid, state, created, bits, when it stopped signing")
        add = actions.add_parser("add", help="generate a key and publish it, without signing with it yet")
        add.add_argument("--bits", type=int, choices=keys.GENERATED_BITS, default=2048)
        activate = actions.add_parser("activate", help="sign with KID; the previous key stays published")
        activate.add_argument("kid", help=KID_HELP)
        activate.add_argument(
            "--force", action="store_true", help="even if relying parties may not have fetched it yet"
        )
        retire = actions.add_parser("retire", help="stop publishing KID and delete its private key")
        retire.add_argument("kid", help=KID_HELP)
        retire.add_argument(
            "--force", action="store_true", help="even if id_tokens it signed may not have expired"
        )

    def handle(self, *args, **options) -> None:
        if options["dir"] is None:
            raise CommandError(f"{keys.KEYS_DIR_VARIABLE} is not set; give the keys directory with --dir.")
        keys_dir = Path(options["dir"])
        try:
            getattr(self, f"handle_{options['action']}")(keys_dir, options)
        except (ImproperlyConfigured, keys.RotationRefused) as exc:
            raise CommandError(str(exc)) from exc

    def handle_list(self, keys_dir: Path, options: dict) -> None:
        rows = [("KID", "STATE", "CREATED", "BITS", "STOPPED SIGNING")]
        rows += [
            (r.kid, r.state.value, _when(r.created), str(r.bits), _when(r.signing_until))
            for r in keys.read_manifest(keys_dir)
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )

    def handle_add(self, keys_dir: Path, options: dict) -> None:
        record = keys.add_key(keys_dir, now=timezone.now(), bits=options["bits"])
        max_age = oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS
        self.stdout.write(f"Added key {record.kid} (RSA-{record.bits}): published, not signing.")
        self.stdout.write(RESTART)
        self.stdout.write(
            f"Then wait at least {max_age} s (OIDC_JWKS_MAX_AGE_SECONDS), so relying parties fetch it, "
            f"before `signing_keys activate {_arg(record.kid)}`."
        )

    def handle_activate(self, keys_dir: Path, options: dict) -> None:
        previous = keys.activate_key(
            keys_dir,
            options["kid"],
            now=timezone.now(),
            jwks_max_age=oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS,
            force=options["force"],
        )
        lifetime = oauth2_settings.ID_TOKEN_EXPIRE_SECONDS
        self.stdout.write(f"Key {options['kid']} signs; key {previous.kid} stays published.")
        self.stdout.write(RESTART)
        self.stdout.write(
            f"Until an instance restarts it keeps signing with {previous.kid}. Retire {previous.kid} no "
            f"earlier than {lifetime} s (ID_TOKEN_EXPIRE_SECONDS) after the last restart: "
            f"`signing_keys retire {_arg(previous.kid)}`."
        )

    def handle_retire(self, keys_dir: Path, options: dict) -> None:
        record = keys.retire_key(
            keys_dir,
            options["kid"],
            now=timezone.now(),
            id_token_lifetime=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS,
            force=options["force"],
        )
        self.stdout.write(f"Key {record.kid} is retired: no longer published, its private key deleted.")
        self.stdout.write(RESTART)
