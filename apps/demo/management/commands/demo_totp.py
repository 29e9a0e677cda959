"""Print a demo user's current two-factor code, for trying the admin without an authenticator app."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.demo.management.commands.load_demo import CREDENTIALS_FILE
from apps.demo.totp import current_code


class Command(BaseCommand):
    help = "Print the current authenticator (TOTP) code of a demo user `load_demo` made (development only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", nargs="?", help="the demo user (default: the only one with a code)")
        parser.add_argument("--credentials-file", default=str(CREDENTIALS_FILE))

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "Demo codes are for development only; run with DJANGO_DEBUG=1 (as `make run` does)."
            )
        path = Path(options["credentials_file"])
        if not path.exists():
            raise CommandError(f"{path} does not exist: run `make run` (or `manage.py load_demo`) first.")
        secrets = json.loads(path.read_text()).get("totp_secrets", {})
        email = options["email"] or (next(iter(secrets)) if len(secrets) == 1 else None)
        if email not in secrets:
            known = ", ".join(secrets) or "none"
            raise CommandError(
                f"No demo authenticator for {email or 'that user'} (demo users with one: {known})."
            )
        self.stdout.write(current_code(secrets[email]))
