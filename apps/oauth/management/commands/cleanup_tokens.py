from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.oauth import cleanup


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:  # also refuses nan
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Delete expired and revoked OAuth tokens and codes in small batches, safe to run while Latch "
        "issues tokens. Revoked refresh tokens, recent codes and ID tokens a logout may still name are "
        "kept as long as they are needed (see apps/oauth/cleanup.py). Run it from cron or a timer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=cleanup.DEFAULT_BATCH_SIZE,
            help="Rows deleted per transaction (default %(default)s).",
        )
        parser.add_argument(
            "--pause",
            type=non_negative_float,
            default=cleanup.DEFAULT_PAUSE_SECONDS,
            help="Seconds to wait between batches (default %(default)s).",
        )
        parser.add_argument(
            "--max-seconds",
            type=non_negative_float,
            default=None,
            help="Start no batch after this many seconds; the rest waits for the next run.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args, **options) -> None:
        try:
            result = cleanup.tokens_cleanup(
                batch_size=options["batch_size"],
                pause=options["pause"],
                max_seconds=options["max_seconds"],
                dry_run=options["dry_run"],
            )
        except (ValueError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        verb = "would remove" if result.dry_run else "removed"
        for name, tally in result.tallies.items():
            batches = (
                "" if result.dry_run else f" in {tally.batches} batch{'es' if tally.batches != 1 else ''}"
            )
            self.stdout.write(f"{name}: {verb} {tally.deleted}{batches} ({tally.seconds:.2f} s)")
        if not result.complete:
            self.stdout.write(
                self.style.WARNING(
                    f"Stopped after {result.seconds:.1f} s (--max-seconds); the next run continues."
                )
            )
