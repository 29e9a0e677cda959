"""`manage.py upstream_provider add|update|remove|list`: the registry of upstream providers, scripted.

The client secret never comes from the command line, where `ps`, shell history and CI logs keep
it: `--client-secret-file PATH` reads it from a file (`-` for standard input, for a pipe from a
secret manager), and without it `add` asks for it at the terminal without echoing it. A
`--client-secret` option exists only to refuse with that explanation, because argparse would
otherwise take it for an abbreviation of `--client-secret-file` and treat the secret as a path.
"""

import getpass
import json
import sys
from argparse import BooleanOptionalAction
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.upstream import services
from apps.upstream.discovery import DiscoveryError, provider_discover
from apps.upstream.models import ENDPOINT_FIELDS, UpstreamProvider
from apps.upstream.selectors import blocked_requirements, client_secret_status, dependent_applications

# Options that set a model field of the same name (the value as given).
PLAIN_OPTIONS = ("name", "icon_url", "discovery_url", *ENDPOINT_FIELDS, "client_id")
SECRET_ON_COMMAND_LINE = (
    "--client-secret is not accepted: a secret on the command line is kept by `ps`, shell history and "
    "CI logs. Use --client-secret-file PATH (or - for standard input), or leave it out to be asked."
)


def _scope_entry(text: str) -> dict[str, str]:
    scope, separator, description = text.partition("=")
    if not separator:
        raise ValueError("expected SCOPE=DESCRIPTION")
    return {"scope": scope.strip(), "description": description.strip()}


def _problems(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Add, change, remove or list upstream identity providers. Secrets are never printed."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="register a provider", allow_abbrev=False)
        update = actions.add_parser(
            "update", help="change a provider; options left out stay as they are", allow_abbrev=False
        )
        for sub, adding in ((add, True), (update, False)):
            sub.add_argument("slug", help="the provider's id, e.g. university")
            sub.add_argument("--name", required=adding, help="display name")
            sub.add_argument("--icon-url")
            sub.add_argument("--discovery-url", help="https://issuer/.well-known/openid-configuration")
            for endpoint in ENDPOINT_FIELDS:
                sub.add_argument(f"--{endpoint.replace('_', '-')}")
            sub.add_argument("--client-id", required=adding)
            sub.add_argument(
                "--client-secret-file",
                help="file holding the client secret, or - for standard input"
                + ("" if adding else " (a new secret; leave out to keep the current one)"),
            )
            sub.add_argument("--client-secret", dest="client_secret_refused", help="not accepted (see help)")
            sub.add_argument("--auth-method", choices=UpstreamProvider.AuthMethod.values)
            sub.add_argument(
                "--grant-types",
                help='space-separated, of "authorization_code refresh_token" (default: both)',
            )
            sub.add_argument("--pkce", action=BooleanOptionalAction, help="use PKCE S256 (default: yes)")
            sub.add_argument("--default-scopes", help="space-separated")
            sub.add_argument(
                "--scope",
                action="append",
                type=_scope_entry,
                dest="scopes",
                metavar="SCOPE=DESCRIPTION",
                help="an available scope; repeat for each (update: replaces the whole list)",
            )
            sub.add_argument("--allow-sign-in", action=BooleanOptionalAction)
            sub.add_argument(
                "--trust-email",
                action=BooleanOptionalAction,
                help="link a first sign-in to the Latch account with its verified email, without asking",
            )
            sub.add_argument(
                "--tokens-may-exceed-scopes",
                action=BooleanOptionalAction,
                help="hand apps a token with more scopes than they declared where the provider cannot "
                "narrow it (default: no, such apps are refused)",
            )
            sub.add_argument("--enabled", action=BooleanOptionalAction)
        update.add_argument("--rediscover", action="store_true", help="fetch the discovery document again")
        remove = actions.add_parser(
            "remove", help="delete a provider, its members' identities and connections"
        )
        remove.add_argument("slug")
        remove.add_argument(
            "--yes", action="store_true", help="needed when members have identities or connections there"
        )
        listing = actions.add_parser("list", help="every provider (never a secret)")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("client_secret_refused") is not None:
            raise CommandError(SECRET_ON_COMMAND_LINE)
        getattr(self, f"handle_{options['action']}")(options)

    # --- add and update ------------------------------------------------------------------------

    def handle_add(self, options: dict[str, Any]) -> None:
        provider = UpstreamProvider(slug=options["slug"], grant_types=list(UpstreamProvider.GrantType.values))
        if UpstreamProvider.objects.filter(pk=provider.slug).exists():
            raise CommandError(f"Provider {provider.slug!r} exists already; use `update`.")
        self._apply(provider, options)
        secret = self._secret(options, required=True)
        self._save(provider, options, secret=secret, changed=[], rediscover=bool(provider.discovery_url))
        self.stdout.write(self.style.SUCCESS(f"Added {provider.slug} ({provider.name})."))

    def handle_update(self, options: dict[str, Any]) -> None:
        provider = self._get(options["slug"])
        before = {field.attname: getattr(provider, field.attname) for field in provider._meta.concrete_fields}
        self._apply(provider, options)
        changed = [name for name, value in before.items() if getattr(provider, name) != value]
        rediscover = bool(provider.discovery_url) and (options["rediscover"] or "discovery_url" in changed)
        secret = self._secret(options, required=False)
        self._save(provider, options, secret=secret, changed=changed, rediscover=rediscover)
        self.stdout.write(self.style.SUCCESS(f"Updated {provider.slug}."))

    def _apply(self, provider: UpstreamProvider, options: dict[str, Any]) -> None:
        for name in PLAIN_OPTIONS:
            if options[name] is not None:
                setattr(provider, name, options[name])
        if options["auth_method"] is not None:
            provider.token_endpoint_auth_method = options["auth_method"]
        if options["grant_types"] is not None:
            provider.grant_types = list(dict.fromkeys(options["grant_types"].split()))
        if options["pkce"] is not None:
            provider.use_pkce = options["pkce"]
        if options["default_scopes"] is not None:
            provider.default_scopes = list(dict.fromkeys(options["default_scopes"].split()))
        if options["scopes"] is not None:
            provider.available_scopes = options["scopes"]
        if options["allow_sign_in"] is not None:
            provider.allow_sign_in = options["allow_sign_in"]
        if options["trust_email"] is not None:
            provider.trust_email = options["trust_email"]
        if options["tokens_may_exceed_scopes"] is not None:
            provider.tokens_may_exceed_scopes = options["tokens_may_exceed_scopes"]
        if options["enabled"] is not None:
            provider.enabled = options["enabled"]

    def _secret(self, options: dict[str, Any], *, required: bool) -> str | None:
        path = options["client_secret_file"]
        if path == "-":
            secret = sys.stdin.readline().strip()
        elif path:
            try:
                secret = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read the client secret from {path}: {exc}.") from None
        elif not required:
            return None
        elif sys.stdin.isatty():
            secret = getpass.getpass("Client secret (not echoed): ").strip()
        else:
            raise CommandError(
                "Give the client secret with --client-secret-file PATH (or - for standard input)."
            )
        if not secret:
            raise CommandError("The client secret is empty.")
        return secret

    def _save(
        self,
        provider: UpstreamProvider,
        options: dict[str, Any],
        *,
        secret: str | None,
        changed: list[str],
        rediscover: bool,
    ) -> None:
        warnings: list[str] = []
        try:
            if rediscover:
                before = {name: getattr(provider, name) for name in ENDPOINT_FIELDS}
                warnings = provider_discover(provider)
                changed += [name for name in ENDPOINT_FIELDS if getattr(provider, name) != before[name]]
            services.provider_save(
                provider=provider, client_secret=secret, changed=sorted(set(changed)), actor=services.COMMAND
            )
        except DiscoveryError as exc:
            raise CommandError(f"Discovery failed, nothing was saved: {exc}") from None
        except ValidationError as exc:
            raise CommandError(f"Nothing was saved. {_problems(exc)}") from None
        for warning in warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if blocked := blocked_requirements(provider):
            names = ", ".join(sorted(str(requirement.application) for requirement in blocked))
            self.stderr.write(
                self.style.WARNING(
                    f"Warning: {provider.slug} is disabled; these apps cannot work without it: {names}."
                )
            )

    # --- remove and list -----------------------------------------------------------------------

    def handle_remove(self, options: dict[str, Any]) -> None:
        provider = self._get(options["slug"])
        if applications := dependent_applications(provider):
            raise CommandError(str(services.ProviderInUse(provider, applications)))
        identities, connections = provider.identities.count(), provider.connections.count()
        if (identities or connections) and not options["yes"]:
            raise CommandError(
                f"{provider.slug} has {identities} member identities and {connections} connections, which "
                "would be deleted with it (members could no longer sign in with it). Add --yes to go ahead, "
                "or `update --no-enabled` to switch it off instead."
            )
        try:
            services.provider_remove(provider=provider, actor=services.COMMAND)
        except services.ProviderInUse as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Removed {provider.slug}."))

    def handle_list(self, options: dict[str, Any]) -> None:
        rows = [self._describe(provider) for provider in UpstreamProvider.objects.order_by("slug")]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No upstream providers.")
            return
        columns = (
            "slug",
            "name",
            "enabled",
            "sign_in",
            "endpoints",
            "auth_method",
            "client_secret",
            "applications",
        )
        table = [[column.upper().replace("_", " ") for column in columns]]
        table += [[str(row[column]) for column in columns] for row in rows]
        widths = [max(len(line[index]) for line in table) for index in range(len(columns))]
        for line in table:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            )

    @staticmethod
    def _describe(provider: UpstreamProvider) -> dict[str, Any]:
        """Everything worth knowing about a provider, and of its secret only whether and under which key."""
        return {
            "slug": provider.slug,
            "name": provider.name,
            "enabled": provider.enabled,
            "sign_in": provider.allow_sign_in,
            "trust_email": provider.trust_email,
            "endpoints": "discovery" if provider.discovery_url else "configured",
            "discovery_url": provider.discovery_url,
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "auth_method": provider.token_endpoint_auth_method,
            "client_secret": client_secret_status(provider),
            "grant_types": provider.grant_types,
            "pkce": provider.use_pkce,
            "default_scopes": provider.default_scopes,
            "scopes": provider.scope_names,
            "tokens_may_exceed_scopes": provider.tokens_may_exceed_scopes,
            "applications": len(dependent_applications(provider)),
        }

    @staticmethod
    def _get(slug: str) -> UpstreamProvider:
        try:
            return UpstreamProvider.objects.get(pk=slug)
        except UpstreamProvider.DoesNotExist:
            raise CommandError(f"No upstream provider {slug!r}.") from None
