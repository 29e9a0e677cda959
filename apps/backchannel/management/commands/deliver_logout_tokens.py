"""Send the logout tokens that are due; schedule it every minute (cron, a systemd timer)."""

import time

from django.core.management.base import BaseCommand

from apps.backchannel import delivery


class Command(BaseCommand):
    help = (
        "Send due OIDC back-channel logout tokens to the apps' back-channel logout URIs, retry "
        "failures with backoff, and delete old delivered and failed rows. Safe to run on several "
        "instances at once."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Keep running, checking for due tokens every --interval seconds (a long-running worker).",
        )
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between runs with --loop.")

    def handle(self, *args, loop: bool = False, interval: float = 5.0, **options) -> None:
        while True:
            result = delivery.deliver_due()
            purged = delivery.purge_old()
            if result.attempted or purged or options["verbosity"] > 1:
                self.stdout.write(
                    f"delivered {result.delivered}, to retry {result.retrying}, failed {result.failed}, "
                    f"old rows deleted {purged}"
                )
            if not loop:
                return
            time.sleep(interval)
