"""`manage.py vault_rekey [--batch-size N]`, then `manage.py vault_rekey --retire KID`.

Rotation: add the new key to LATCH_VAULT_KEYS, make it LATCH_VAULT_CURRENT_KEY and restart every
instance (new values are then written under it); run `vault_rekey` to re-encrypt what is stored
under older keys; `--retire OLD` confirms nothing is left under OLD, which can then be removed from
LATCH_VAULT_KEYS. Members re-authorize nothing: only the encryption changes.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.upstream.crypto import KEYS_VARIABLE
from apps.upstream.selectors import values_under
from apps.upstream.services import vault_rekey


def _batch_size(text: str) -> int:
    size = int(text)
    if not 1 <= size <= 10_000:
        raise ValueError(size)
    return size


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored upstream secret (provider client secrets, connection tokens) that is "
        "still under an older key with the current one, in batches. --retire KID checks that nothing "
        "is left under KID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=_batch_size,
            default=100,
            help="rows per transaction (1 to 10000; default 100)",
        )
        parser.add_argument(
            "--retire", metavar="KID", help="refuse unless nothing is encrypted under KID any more"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retire"]:
            self.retire(options["retire"])
            return
        report = vault_rekey(batch_size=options["batch_size"])
        self.stdout.write(
            f"Current key {report.current}: re-encrypted {report.values} values in {report.rows} rows "
            f"({report.batches} batches of up to {options['batch_size']})."
        )
        if report.remaining:
            self.stdout.write(
                self.style.WARNING(
                    f"{report.remaining} rows are still under an older key (in use during the run): run "
                    "vault_rekey again."
                )
            )
        if report.failed:
            for failure in report.failed:
                self.stderr.write(failure)
            raise CommandError(f"{len(report.failed)} rows could not be decrypted and were left as they are.")
        if not report.remaining:
            self.stdout.write(self.style.SUCCESS("Everything is encrypted under the current key."))

    def retire(self, kid: str) -> None:
        keys = settings.LATCH_VAULT_KEYS
        if kid == keys.current:
            raise CommandError(
                f"{kid} is the current key (LATCH_VAULT_CURRENT_KEY). Make another key current, restart, "
                "and run vault_rekey first."
            )
        if remaining := values_under(kid):
            where = ", ".join(f"{name}: {count}" for name, count in remaining.items())
            raise CommandError(
                f"{sum(remaining.values())} values are still encrypted under {kid} ({where}). Run "
                f"`manage.py vault_rekey` first; {kid} must stay in {KEYS_VARIABLE} until then."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Nothing is encrypted under {kid}: remove it from {KEYS_VARIABLE} and restart the instances."
            )
        )
