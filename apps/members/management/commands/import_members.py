import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.members import services


class Command(BaseCommand):
    help = (
        "Create or update members from a CSV file (UTF-8, header row, email as the key). Columns: "
        + ", ".join(services.IMPORT_COLUMNS)
        + ". Required: "
        + ", ".join(services.REQUIRED_COLUMNS)
        + ". Dates are YYYY-MM-DD; status is active, alumnus or suspended."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--create-logins",
            action="store_true",
            help="Give members without a login one, and print a one-time link to set its password.",
        )
        parser.add_argument(
            "--skip-bad",
            action="store_true",
            help="Import the good rows and list the bad ones (default: none).",
        )
        parser.add_argument(
            "--base-url",
            default=settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"] or "http://localhost:8000",
            help="Where members reach Latch, for the password links (default: LATCH_ISSUER).",
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                services.check_columns(reader.fieldnames or [])
                # Line numbers as a spreadsheet shows them: the header is line 1.
                rows = [(reader.line_num, row) for row in reader]
            result = services.import_members(
                rows,
                create_logins=options["create_logins"],
                skip_bad=options["skip_bad"],
                base_url=options["base_url"],
            )
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"{path} is not a UTF-8 CSV file: {exc}") from exc
        except services.ImportFailed as exc:
            lines = "\n".join(f"  line {line}: {reason}" for line, reason in exc.problems)
            raise CommandError(f"Nothing was imported; fix these rows (or use --skip-bad):\n{lines}") from exc

        self.stdout.write(
            self.style.SUCCESS(f"Created {result.created}, updated {result.updated} member(s).")
        )
        for line, reason in result.skipped:
            self.stdout.write(self.style.WARNING(f"Skipped line {line}: {reason}"))
        if result.password_links:
            self.stdout.write("One-time links to set a password (send each to its member):")
            for email, link in result.password_links:
                self.stdout.write(f"  {email}  {link}")
