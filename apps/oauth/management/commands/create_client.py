import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.models import AuditEvent
from apps.audit.services import application_details, record
from apps.oauth import services
from apps.oauth.models import Application


class Command(BaseCommand):
    help = "Register an OAuth application and print its client id and (once) its client secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--grant", required=True, choices=sorted(services.GRANT_TYPES))
        parser.add_argument(
            "--client-type",
            required=True,
            choices=[Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC],
        )
        parser.add_argument(
            "--redirect-uri", action="append", default=[], dest="redirect_uris", help="Repeatable."
        )
        parser.add_argument(
            "--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris"
        )
        parser.add_argument("--scopes", default="", help='Space-separated, e.g. "openid member-read".')
        parser.add_argument("--description", default="")
        parser.add_argument("--homepage", default="", dest="homepage_url")
        parser.add_argument("--logo-url", default="")
        parser.add_argument(
            "--pkce-optional",
            action="store_true",
            help="Only for an old confidential app that cannot send PKCE: its codes are then protected "
            "by the client secret alone (RFC 9700 §4.5).",
        )
        parser.add_argument(
            "--resource-server",
            action="store_true",
            dest="is_resource_server",
            help="An API that may introspect every application's tokens (RFC 7662).",
        )
        parser.add_argument(
            "--require-dpop",
            action="store_true",
            help="Refuse the app's token requests without a DPoP proof (RFC 9449): all its tokens are bound.",
        )
        parser.add_argument(
            "--require-par",
            action="store_true",
            dest="require_pushed_authorization_requests",
            help="The app must push its authorization requests to /oauth/par (RFC 9126).",
        )
        parser.add_argument(
            "--access-token-format",
            choices=["opaque", "jwt"],
            default="opaque",
            help="jwt: RFC 9068 JWT access tokens, which APIs elsewhere can check without asking Latch "
            "(and then do not see a revocation until they expire: keep --access-token-lifetime short).",
        )
        parser.add_argument(
            "--access-token-lifetime",
            type=int,
            metavar="SECONDS",
            help="How long the app's access tokens live; the server's default (LATCH_ACCESS_TOKEN_SECONDS) "
            "if left out.",
        )
        parser.add_argument(
            "--auth-method",
            default="",
            dest="token_endpoint_auth_method",
            choices=["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            help="The only way the app may authenticate (default: by client type). private_key_jwt "
            "needs --jwks-file or --jwks-uri, and no secret is generated.",
        )
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument("--jwks-file", help="A JSON file with the app's public keys (a JWKS).")
        keys.add_argument("--jwks-uri", default="", help="An https URL serving the app's public keys.")
        parser.add_argument(
            "--backchannel-logout-uri",
            default="",
            help="Where Latch POSTs a logout token when a member the app signed in signs out "
            "(OIDC Back-Channel Logout; https).",
        )
        parser.add_argument(
            "--backchannel-logout-session-required",
            action="store_true",
            help="The app needs the session id (sid) in every logout token.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object, for scripts.")

    def handle(self, *args, **options) -> None:
        jwks = self._read_jwks(options["jwks_file"]) if options["jwks_file"] else None
        try:
            application, secret = services.create_application(
                name=options["name"],
                grant_type=options["grant"],
                client_type=options["client_type"],
                redirect_uris=options["redirect_uris"],
                post_logout_redirect_uris=options["post_logout_redirect_uris"],
                allowed_scopes=options["scopes"].split(),
                description=options["description"],
                homepage_url=options["homepage_url"],
                logo_url=options["logo_url"],
                pkce_optional=options["pkce_optional"],
                is_resource_server=options["is_resource_server"],
                require_dpop=options["require_dpop"],
                require_pushed_authorization_requests=options["require_pushed_authorization_requests"],
                access_token_format=options["access_token_format"],
                access_token_lifetime=options["access_token_lifetime"],
                token_endpoint_auth_method=options["token_endpoint_auth_method"],
                jwks=jwks,
                jwks_uri=options["jwks_uri"],
                backchannel_logout_uri=options["backchannel_logout_uri"],
                backchannel_logout_session_required=options["backchannel_logout_session_required"],
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"The application was not created. {problems}") from exc
        record(
            AuditEvent.Event.APPLICATION_CREATED,
            actor_type=AuditEvent.ActorType.ADMIN,
            actor_label="manage.py",
            client_id=application.client_id,
            **application_details(application),
        )

        if options["json"]:
            self.stdout.write(json.dumps({"client_id": application.client_id, "client_secret": secret}))
            return
        self.stdout.write(self.style.SUCCESS(f"Created {application.name!r}"))
        self.stdout.write(f"client_id:     {application.client_id}")
        if secret:
            self.stdout.write(f"client_secret: {secret}")
            self.stdout.write(self.style.WARNING("Store the secret now: Latch keeps only a digest of it."))
        elif application.token_endpoint_auth_method == "private_key_jwt":
            self.stdout.write("client_secret: none (private_key_jwt: sign assertions with the app's key)")
        else:
            self.stdout.write("client_secret: none (public client: use PKCE)")

    @staticmethod
    def _read_jwks(path: str) -> object:
        try:
            with open(path, encoding="utf-8") as file:
                return json.load(file)
        except (OSError, ValueError) as exc:
            raise CommandError(f"The application was not created. --jwks-file: {exc}") from exc
