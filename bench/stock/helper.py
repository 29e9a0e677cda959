"""The stock DOT server's data, made through DOT's own models, in a process of its own.

    DJANGO_SETTINGS_MODULE=bench.stock.settings python -m bench.stock.helper

Django's settings are one per process, and the harness runs under Latch's, so everything the stock
database needs comes from here: it migrates the database, seeds members and four applications
(client_credentials and authorization_code, each with a PBKDF2-hashed secret, DOT's default, and
with `hash_client_secret=False`), then answers one JSON request per line on stdin, one JSON answer
per line on stdout (bench/stock/client.py is the other side):

- {"op": "mint", "kind": "access" | "refresh", "variant": "pbkdf2" | "plain", "count": N}: lines of
  live access tokens with the resource's scope, or refresh tokens (each with its access token) of
  the variant's authorization_code application, stored as DOT's token endpoint stores them;
- {"op": "request", "method", "path", "headers", "body"}: that request through django.test.Client,
  with its status, body and SQL (the statement count);
- {"op": "checks"}: what shows the project runs on DOT's defaults;
- {"op": "quit"}.

The first line it writes says it is ready: the clients' HTTP Basic credentials, and the PID of its
own PostgreSQL backend (the harness leaves it out of the stock server's database CPU).
"""

import base64
import json
import os
import secrets
import sys
from datetime import timedelta
from typing import Any, TextIO

VARIANTS = ("pbkdf2", "plain")
REDIRECT_URI = "https://bench.example.org/callback"
# What the resource and refresh scenarios' tokens carry: DOT's default scopes.
TOKEN_SCOPE = "read write"


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1 (DOT's generated ids and secrets are URL-safe already)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def seed(members: int) -> dict[str, Any]:
    """Members with logins, and a client_credentials and a code application per variant."""
    from django.contrib.auth.models import User  # the stock project's user model: Django's own
    from oauth2_provider.models import Application

    users = [
        User(
            username=f"member{number}",
            email=f"member{number}@bench.example.org",
            first_name="Member",
            last_name=f"Number {number}",
        )
        for number in range(members)
    ]
    for user in users:
        user.set_unusable_password()  # nobody signs in during the run
    User.objects.bulk_create(users)
    clients: dict[str, dict[str, str]] = {}
    for variant in VARIANTS:
        hashed = variant == "pbkdf2"
        auths = {}
        for role, grant in (
            ("service", Application.GRANT_CLIENT_CREDENTIALS),
            ("web", Application.GRANT_AUTHORIZATION_CODE),
        ):
            secret = secrets.token_urlsafe(32)
            application = Application.objects.create(
                name=f"Bench {role} ({variant})",
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=grant,
                redirect_uris=REDIRECT_URI if role == "web" else "",
                client_secret=secret,  # ClientSecretField hashes it on save when hash_client_secret
                hash_client_secret=hashed,
            )
            auths[role] = basic_auth(application.client_id, secret)
        clients[variant] = auths
    return clients


def _application(variant: str):
    from oauth2_provider.models import Application

    return Application.objects.get(name=f"Bench web ({variant})")


def _access_tokens(application, user_ids: list[int], count: int) -> list:
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, set_token_value
    from oauth2_provider.settings import oauth2_settings

    expires = timezone.now() + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    tokens = []
    for number in range(count):
        token = AccessToken(
            user_id=user_ids[number % len(user_ids)],
            application=application,
            scope=TOKEN_SCOPE,
            expires=expires,
        )
        # DOT's storage: the plaintext and the checksum its lookups use (TokenChecksumField).
        set_token_value(token, _generate())
        tokens.append(token)
    return tokens


def _generate() -> str:
    """A token as DOT issues them with no ACCESS_TOKEN_GENERATOR set: oauthlib's default."""
    from oauthlib.common import generate_token

    return generate_token()


def mint(kind: str, variant: str, count: int) -> list[list[str]]:
    from django.contrib.auth.models import User
    from django.db import transaction
    from oauth2_provider.models import AccessToken, RefreshToken, set_token_value

    application = _application(variant)
    user_ids = list(User.objects.order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        access_tokens = _access_tokens(application, user_ids, count)
        AccessToken.objects.bulk_create(access_tokens, batch_size=2000)
        if kind == "access":
            return [[token.token] for token in access_tokens]
        refresh_tokens = []
        for access_token in access_tokens:
            refresh_token = RefreshToken(
                user_id=access_token.user_id, application=application, access_token=access_token
            )
            set_token_value(refresh_token, _generate())
            refresh_tokens.append(refresh_token)
        RefreshToken.objects.bulk_create(refresh_tokens, batch_size=2000)
        return [[token.token] for token in refresh_tokens]


def request(method: str, path: str, headers: dict[str, str], body: str) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as captured:
        if method == "GET":
            response = client.get(path, headers=headers)
        else:
            form = "application/x-www-form-urlencoded"
            response = client.post(path, body, content_type=form, headers=headers)
    return {
        "status": response.status_code,
        "body": response.content.decode(errors="replace"),
        "sql": [query["sql"] for query in captured.captured_queries],
    }


def checks() -> dict[str, Any]:
    """DOT's defaults as this process runs them: the models, the hasher, the token storage."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hasher
    from django.db.models import Count
    from oauth2_provider.models import AccessToken, Application, RefreshToken, get_application_model
    from oauth2_provider.settings import oauth2_settings

    hasher = get_hasher(oauth2_settings.CLIENT_SECRET_HASHER)
    stored = sorted(
        {
            secret.partition("$")[0] if secret.count("$") >= 3 else "plaintext"
            for secret in Application.objects.values_list("client_secret", flat=True)
        }
    )
    return {
        "application_model": get_application_model()._meta.label,
        "client_secret_hasher": hasher.algorithm,
        "hasher_iterations": getattr(hasher, "iterations", None),
        "client_secrets_stored_as": stored,
        "plaintext_tokens": AccessToken.objects.exclude(token="").count()
        + RefreshToken.objects.exclude(token="").count(),
        # What the harness checks its count of served requests against (client_credentials).
        "access_tokens_issued": {
            name: count
            for name, count in AccessToken.objects.filter(application__name__startswith="Bench service")
            .values_list("application__name")
            .annotate(count=Count("pk"))
        },
        "refresh_rotation": bool(oauth2_settings.ROTATE_REFRESH_TOKEN),
        "refresh_reuse_protection": bool(oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION),
        "debug": settings.DEBUG,
    }


def serve(commands: TextIO, answers: TextIO, members: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    clients = seed(members)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()

    def answer(value: dict[str, Any]) -> None:
        answers.write(json.dumps(value) + "\n")
        answers.flush()

    answer({"ready": True, "clients": clients, "backend_pid": pid})
    for line in commands:
        command = json.loads(line)
        op = command.pop("op")
        try:
            if op == "quit":
                break
            if op == "mint":
                answer({"lines": mint(**command)})
            elif op == "request":
                answer(request(**command))
            elif op == "checks":
                answer(checks())
            else:
                answer({"error": f"unknown op {op!r}"})
        except Exception as error:  # reported to the harness, which fails the run
            answer({"error": f"{type(error).__name__}: {error}"})


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.stock.settings")
    django.setup()
    # stdout carries the answers; anything else that prints goes to stderr.
    answers, sys.stdout = sys.stdout, sys.stderr
    serve(sys.stdin, answers, int(sys.argv[1]) if len(sys.argv) > 1 else 50)


if __name__ == "__main__":
    main()
