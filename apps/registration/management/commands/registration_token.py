import json
import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.registration import services
from apps.registration.models import InitialAccessToken

DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`."""
    match = DURATION.match(value)
    if not match:
        raise CommandError(f"--expires {value!r}: give a number and m, h, d or w, e.g. 7d.")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = (
        "Initial access tokens for dynamic client registration (RFC 7591): create one (printed once), "
        "list them, revoke one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Issue a token; its value is printed once.")
        create.add_argument(
            "--scopes", required=True, help='The most its clients may get, e.g. "openid member-read".'
        )
        create.add_argument(
            "--expires", required=True, type=duration, help="How long it is valid: 30m, 12h, 7d, 2w."
        )
        create.add_argument(
            "--uses", type=int, default=1, help="How many clients it may register (default 1)."
        )
        create.add_argument("--description", default="", help="For whom, or for which app.")
        create.add_argument("--json", action="store_true")
        listing = actions.add_parser(
            "list", help="Tokens that can still register a client (--all: every one)."
        )
        listing.add_argument("--all", action="store_true")
        revoke = actions.add_parser(
            "revoke", help="Revoke a token by its prefix (clients it registered stay)."
        )
        revoke.add_argument("prefix")

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options) -> None:
        token = InitialAccessToken(
            scopes=options["scopes"].split(),
            expires=timezone.now() + options["expires"],
            max_uses=options["uses"],
            description=options["description"],
        )
        try:
            value = services.initial_token_issue(token, actor_label="manage.py")
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        if options["json"]:
            self.stdout.write(
                json.dumps({"initial_access_token": value, "expires": token.expires.isoformat()})
            )
        else:
            self.stdout.write(
                f"initial access token: {value}\n"
                f"scopes:  {' '.join(token.scopes)}\nexpires: {token.expires:%Y-%m-%d %H:%M %Z}\n"
                f"uses:    {token.max_uses}\nShown once: Latch keeps only a digest of it."
            )

    def _list(self, options) -> None:
        now = timezone.now()
        tokens = InitialAccessToken.objects.order_by("-created")
        for token in tokens:
            usable = token.is_usable(now)
            if not (usable or options["all"]):
                continue
            state = (
                "usable"
                if usable
                else "revoked"
                if token.revoked
                else "expired"
                if token.expires <= now
                else "used up"
            )
            self.stdout.write(
                f"{token.token_prefix}…  {state:8}  {token.uses}/{token.max_uses} used  "
                f"expires {token.expires:%Y-%m-%d %H:%M}  {' '.join(token.scopes)}  {token.description}"
            )

    def _revoke(self, options) -> None:
        matches = list(InitialAccessToken.objects.filter(token_prefix=options["prefix"]))
        if len(matches) != 1:
            raise CommandError(
                f"{len(matches)} tokens have the prefix {options['prefix']!r}; give one that names one."
            )
        if not services.initial_token_revoke(matches[0], actor_label="manage.py"):
            raise CommandError("That token was already revoked.")
        self.stdout.write(f"Revoked {matches[0].token_prefix}…")
