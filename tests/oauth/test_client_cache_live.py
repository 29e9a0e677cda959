"""Two Latch instances behind one database and one Redis, as behind a load balancer: a change to an
application made anywhere (a command, another instance's process, the ORM of this test) takes effect
on both at their next request, although each keeps the client's row (apps/oauth/client_cache.py).

Each instance is gunicorn in a process of its own, with production settings (DEBUG off), on the
test database; the test commits its changes (transactional test), as an administrator's would be.
"""

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from apps.oauth.models import Application
from tests.oauth.factories import service_application
from tests.processes import clean_environment, free_port, stop, wait_until_serving

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Instance:
    url: str
    process: subprocess.Popen
    log: Path

    def token(self, client_id: str, secret: str, scope: str = "member-read") -> requests.Response:
        return requests.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(client_id, secret),
            timeout=10,
        )


def shared_environment() -> dict[str, str]:
    """The test database and the test Redis, for every process this test starts."""
    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" not in backend.lower():
        pytest.skip("needs a shared cache (CACHE_URL=redis://...), as several instances do")
    database = connection.settings_dict
    return clean_environment(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        CACHE_URL=str(settings.CACHES["default"]["LOCATION"]),
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        LATCH_DEV_KEYS="1",
        LATCH_ISSUER="http://127.0.0.1",
        LATCH_LOG_LEVEL="WARNING",
    )


@pytest.fixture
def instances(tmp_path) -> Iterator[list[Instance]]:
    if connection.vendor != "postgresql":
        pytest.skip("two processes on one database: PostgreSQL")
    environment = shared_environment()
    started = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = tmp_path / f"{name}.log"
            with log.open("wb") as output:
                process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                    [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
                    cwd=ROOT,
                    env=environment,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            started.append(Instance(url=f"http://127.0.0.1:{port}", process=process, log=log))
        for instance in started:
            wait_until_serving(
                instance.process,
                lambda instance=instance: (
                    requests.get(f"{instance.url}/.well-known/openid-configuration", timeout=2).ok
                ),
                name=f"gunicorn at {instance.url}",
                log=lambda instance=instance: instance.log.read_text(errors="replace"),
                timeout=60,
            )
        yield started
    finally:
        for instance in started:
            stop(instance.process)


def manage(*arguments: str) -> str:
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=shared_environment(),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def keep(instances: list[Instance], client_id: str, secret: str) -> None:
    """Enough requests that each instance keeps the client's row (one process each)."""
    for instance in instances:
        for _ in range(3):
            assert instance.token(client_id, secret).status_code == 200, instance.log.read_text()


def test_a_secret_rotated_by_the_command_works_on_every_instance_at_once(instances):
    kiosk = service_application()
    keep(instances, kiosk.client_id, kiosk.secret)

    rotated = json.loads(manage("rotate_client_secret", kiosk.client_id, "--json"))

    for instance in instances:
        assert instance.token(kiosk.client_id, kiosk.secret).status_code == 401
        assert instance.token(kiosk.client_id, rotated["client_secret"]).status_code == 200


def test_scopes_narrowed_and_an_app_deleted_elsewhere_apply_on_every_instance_at_once(instances):
    kiosk = service_application()
    keep(instances, kiosk.client_id, kiosk.secret)

    Application.objects.filter(pk=kiosk.pk).update(allowed_scopes=["checkout-read"])

    for instance in instances:
        refused = instance.token(kiosk.client_id, kiosk.secret)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_scope"
        assert instance.token(kiosk.client_id, kiosk.secret, scope="checkout-read").status_code == 200

    Application.objects.get(pk=kiosk.pk).delete()

    for instance in instances:
        assert instance.token(kiosk.client_id, kiosk.secret, scope="checkout-read").status_code == 401


def test_a_change_made_with_sql_applies_once_forget_cached_clients_runs(instances):
    kiosk = service_application()
    keep(instances, kiosk.client_id, kiosk.secret)
    with connection.cursor() as cursor:  # as psql would: no signal, no new generation
        cursor.execute("UPDATE oauth_application SET allowed_scopes = '[]' WHERE id = %s", [kiosk.pk])

    assert instances[0].token(kiosk.client_id, kiosk.secret).status_code == 200  # still the kept row

    output = manage("forget_cached_clients")

    assert "again" in output
    for instance in instances:
        assert instance.token(kiosk.client_id, kiosk.secret).status_code == 400
