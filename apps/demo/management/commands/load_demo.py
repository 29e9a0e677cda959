"""Load fixtures/demo.json (and each app's demo data) for `make run`, and print how to try Latch out.

Demo passwords, client secrets and the admin's authenticator secret are generated on the first load
and kept in var/demo-credentials.json (git-ignored, mode 0600), so each machine has its own and none
is in git. The admin asks staff for a second factor (apps/accounts/mfa.py): the demo admin has an
authenticator (TOTP) already, whose secret the banner prints, and `manage.py demo_totp` prints its
current code for whoever has no authenticator app at hand.
"""

import json
import logging
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.accounts.models import User
from apps.activities import demo as activities_demo
from apps.checkout import demo as checkout_demo
from apps.demo import totp
from apps.groups import demo as groups_demo
from apps.members.models import Member
from apps.oauth import services
from apps.oauth.models import Application

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo.json"
# Where the generated passwords and secrets are kept (demo_totp reads it too).
CREDENTIALS_FILE = Path(settings.VAR_DIR) / "demo-credentials.json"
# Each app's own demo data, given the demo members; each loader is idempotent.
DEMO_LOADERS = [activities_demo.load_demo, groups_demo.load_demo, checkout_demo.load_demo]


class Command(BaseCommand):
    help = "Load the demo users and applications (development only) and print their credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://localhost:8000")
        parser.add_argument("--credentials-file", default=str(CREDENTIALS_FILE))

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "Demo data is for development only; run with DJANGO_DEBUG=1 (as `make run` does)."
            )
        credentials_file = Path(options["credentials_file"])
        known = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
        passwords: dict[str, str] = known.get("passwords", {})
        client_secrets: dict[str, str] = known.get("client_secrets", {})
        totp_secrets: dict[str, str] = known.get("totp_secrets", {})
        demo = json.loads(FIXTURE.read_text())

        # Each row the demo creates is logged at INFO, as in production; here they would only push
        # the banner out of sight. Warnings and errors still show.
        logging.disable(logging.INFO)
        try:
            self._load(demo, passwords, client_secrets, totp_secrets)
        finally:
            logging.disable(logging.NOTSET)

        self._write_private(
            credentials_file,
            {"passwords": passwords, "client_secrets": client_secrets, "totp_secrets": totp_secrets},
        )
        self._print_banner(
            options["base_url"], credentials_file, demo, passwords, client_secrets, totp_secrets
        )

    def _load(self, demo: dict, passwords: dict, client_secrets: dict, totp_secrets: dict) -> None:
        with transaction.atomic():
            for spec in demo["users"]:
                user, created = User.objects.get_or_create(
                    email=spec["email"], defaults={k: v for k, v in spec.items() if k != "email"}
                )
                if created or spec["email"] not in passwords:
                    passwords[spec["email"]] = secrets.token_urlsafe(9)
                    user.set_password(passwords[spec["email"]])
                    user.email_verified = True
                    user.save()
                if user.is_staff and (created or spec["email"] not in totp_secrets):
                    totp_secrets[spec["email"]] = totp.replace_authenticator(user)
            for spec in demo["applications"]:
                application = Application.objects.filter(client_id=spec["client_id"]).first()
                if application is None:
                    application, secret = services.create_application(**spec)
                    if secret:
                        client_secrets[spec["client_id"]] = secret
                elif application.client_type == Application.CLIENT_CONFIDENTIAL and (
                    spec["client_id"] not in client_secrets
                ):
                    client_secrets[spec["client_id"]] = services.rotate_client_secret(application)
            members = [self._member(spec) for spec in demo["members"]]
            for load_app_demo in DEMO_LOADERS:
                load_app_demo(members)

    @staticmethod
    def _member(spec: dict) -> Member:
        member, _ = Member.objects.get_or_create(
            email=spec["email"],
            defaults={**spec, "user": User.objects.filter(email=spec["email"]).first()},
        )
        return member

    @staticmethod
    def _write_private(path: Path, data: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)

    def _print_banner(
        self,
        base: str,
        credentials_file: Path,
        demo: dict,
        passwords: dict,
        client_secrets: dict,
        totp_secrets: dict,
    ) -> None:
        out = self.stdout.write
        example_app = next(spec for spec in demo["applications"] if spec["client_id"] == "demo-web")
        member = next(spec["email"] for spec in demo["users"] if not spec.get("is_staff"))
        out(self.style.SUCCESS(f"\nLatch is starting on {base}/\n"))
        out(f'  Example app    {example_app["homepage_url"]}   (demo-web: "Sign in with Latch" as {member})')
        out(f"  Sign in        {base}/accounts/login/")
        out(f"  Admin          {base}/admin/   (asks staff for a second factor: see below)")
        out(f"  Discovery      {base}/.well-known/openid-configuration")
        out(f"  Authorize      {base}/oauth/authorize   Token  {base}/oauth/token\n")
        out("  Demo logins (email / password):")
        for spec in demo["users"]:
            role = "admin" if spec.get("is_staff") else "member"
            out(f"    {role:<7} {spec['email']:<22} {passwords[spec['email']]}")
        for email, secret in totp_secrets.items():
            out(f"\n  {email} signs in with a second factor too: an authenticator app (TOTP) with")
            out(f"  the secret {secret}, or the code `.venv/bin/python manage.py demo_totp` prints.")
        out("\n  Demo clients (client_id / client_secret):")
        for spec in demo["applications"]:
            secret = client_secrets.get(spec["client_id"], "(public client: PKCE, no secret)")
            out(f"    {spec['client_id']:<12} {secret}")
            out(f"                 {spec['grant_type']}; scopes: {' '.join(spec['allowed_scopes'])}")
        out(f"\n  (kept in {credentials_file}; the development settings that")
        out("  `.venv/bin/python manage.py ...` reads in another shell are in .env)\n")
