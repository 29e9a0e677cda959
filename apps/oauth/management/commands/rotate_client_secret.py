import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.oauth import services
from apps.oauth.models import Application


class Command(BaseCommand):
    help = (
        "Give a confidential application a new client secret, printed once; the old one stops working. "
        "Also the way to move a secret stored by DOT's slow default hasher to Latch's digest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        try:
            application = Application.objects.get(client_id=options["client_id"])
            secret = services.rotate_client_secret(application)
        except Application.DoesNotExist as exc:
            raise CommandError(f"No application has client_id {options['client_id']!r}.") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        record(
            AuditEvent.Event.CLIENT_SECRET_ROTATED,
            actor_type=AuditEvent.ActorType.ADMIN,
            actor_label="manage.py",
            client_id=application.client_id,
            name=application.name,
        )
        if options["json"]:
            self.stdout.write(json.dumps({"client_id": application.client_id, "client_secret": secret}))
        else:
            self.stdout.write(f"client_id:     {application.client_id}\nclient_secret: {secret}")
