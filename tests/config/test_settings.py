"""Production settings are safe by default; each check runs a fresh process with a clean environment."""

import subprocess
import sys
from pathlib import Path

import pytest

from config.devkeys import dev_rsa_private_key
from tests.processes import clean_environment

BASE_DIR = Path(__file__).resolve().parents[2]
# Warnings `check --deploy` may print, each explained in the README's "Deploying" section.
EXPLAINED_IN_README = {"security.W021"}
# Every start outside development needs the vault's keys (apps/upstream/crypto.py); checks about other
# settings get this one, and tests of the vault's own settings override it.
VAULT_KEYS = {
    "LATCH_VAULT_KEYS": "test:dGVzdC12YXVsdC1rZXktMzItYnl0ZXMtbG9uZyEhISE=",
    "LATCH_VAULT_CURRENT_KEY": "test",
}
# Every start outside development needs an issuer too; tests of the issuer override it ("" is unset).
ISSUER = {"LATCH_ISSUER": "https://latch.example.org"}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=clean_environment(**VAULT_KEYS, **ISSUER) | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", DJANGO_ALLOWED_HOSTS="latch.example.org")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set" in result.stderr


def test_production_refuses_to_start_without_a_signing_key():
    result = run_manage("check", DJANGO_SECRET_KEY="x" * 60)

    assert result.returncode != 0
    assert "OIDC_RSA_PRIVATE_KEY (or OIDC_RSA_PRIVATE_KEY_FILE) must be set" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 60)
    key_file = tmp_path / "oidc.pem"
    key_file.write_text(dev_rsa_private_key(tmp_path))

    result = run_manage(
        "check",
        DJANGO_SECRET_KEY_FILE=str(secret_file),
        OIDC_RSA_PRIVATE_KEY_FILE=str(key_file),
        DJANGO_ALLOWED_HOSTS="latch.example.org",
    )

    assert result.returncode == 0, result.stderr


def test_debug_is_off_unless_asked_for():
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        LATCH_DEV_KEYS="1",
    )

    assert result.stdout.strip().splitlines()[-1] == "False []"


# --- The checkout's .env (scripts/dev-env writes it for `make run`) ---------------------------------
DEV_ENV = BASE_DIR / "scripts" / "dev-env"
SHOW_SETTINGS = "from django.conf import settings; print(settings.DEBUG, settings.LATCH_ISSUER)"


@pytest.fixture
def dotenv(tmp_path) -> Path:
    """The .env `make run` leaves behind, written by the same script."""
    path = tmp_path / ".env"
    subprocess.run([DEV_ENV, str(path)], check=True)  # noqa: S603
    return path


def test_manage_py_in_a_second_shell_finds_the_development_settings_make_run_wrote(dotenv):
    # No DJANGO_* or LATCH_* variable, no vault keys or issuer: all of it from the file.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", SHOW_SETTINGS],
        cwd=BASE_DIR,
        env=clean_environment(LATCH_DOTENV=str(dotenv)),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True http://localhost:8000"


def test_the_shells_own_variables_win_over_the_dotenv(dotenv):
    result = run_manage(
        "shell", "-c", SHOW_SETTINGS, LATCH_DOTENV=str(dotenv), LATCH_ISSUER="http://127.0.0.1:8000"
    )

    assert result.stdout.strip().splitlines()[-1] == "True http://127.0.0.1:8000"


def test_latch_refuses_a_dotenv_outside_development(dotenv):
    # Production with a forgotten .env would otherwise run on its throw-away keys.
    result = run_manage("check", LATCH_DOTENV=str(dotenv), DJANGO_DEBUG="0")

    assert result.returncode != 0
    assert f"{dotenv} holds development settings" in result.stderr
    assert "DJANGO_DEBUG is off" in result.stderr


def test_dev_env_leaves_an_existing_dotenv_alone(dotenv):
    dotenv.write_text("DJANGO_DEBUG=1\nLATCH_DEV_KEYS=1\nLATCH_ISSUER=http://localhost:8123\n")

    subprocess.run([DEV_ENV, str(dotenv)], check=True)  # noqa: S603

    assert "8123" in dotenv.read_text()


def test_without_a_dotenv_production_still_needs_its_secrets(tmp_path):
    result = run_manage("check", LATCH_DOTENV=str(tmp_path / "missing.env"))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set" in result.stderr


def test_check_deploy_prints_only_warnings_the_readme_explains():
    result = run_manage(
        "check",
        "--deploy",
        LATCH_DEV_KEYS="1",
        DJANGO_ALLOWED_HOSTS="latch.example.org",
        LATCH_ISSUER="https://latch.example.org",
    )

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    printed = {word.strip("():") for word in output.split() if word.startswith("(") and "." in word}
    assert printed <= EXPLAINED_IN_README, output
    readme = (BASE_DIR / "README.md").read_text()
    assert all(check_id in readme for check_id in printed)


def test_mail_goes_to_the_console_in_development_and_to_smtp_from_email_url_otherwise():
    show = "from django.conf import settings; print(settings.MAILERS['default'])"

    development = run_manage("shell", "-c", show, LATCH_DEV_KEYS="1", DJANGO_DEBUG="1")
    production = run_manage(
        "shell", "-c", show, LATCH_DEV_KEYS="1", EMAIL_URL="smtp+tls://mailer:pw@mail.example.org:587"
    )

    assert "console.EmailBackend" in development.stdout
    assert "smtp.EmailBackend" in production.stdout
    assert "'host': 'mail.example.org'" in production.stdout
    assert "'port': 587" in production.stdout
    assert "'use_tls': True" in production.stdout


# --- Trusted proxies (apps/accounts/ip.py) ------------------------------------------------------


def test_trusted_proxies_are_parsed_as_networks_at_start_up():
    show = "from django.conf import settings; print(settings.LATCH_TRUSTED_PROXIES)"

    result = run_manage(
        "shell", "-c", show, LATCH_DEV_KEYS="1", LATCH_TRUSTED_PROXIES=" 10.0.0.0/8, 2001:db8::/32"
    )

    assert (
        result.stdout.strip().splitlines()[-1] == "(IPv4Network('10.0.0.0/8'), IPv6Network('2001:db8::/32'))"
    )


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "10.0.0.1/8"])
def test_a_malformed_trusted_proxy_stops_latch(value):
    result = run_manage("check", LATCH_DEV_KEYS="1", LATCH_TRUSTED_PROXIES=value)

    assert result.returncode != 0
    assert f"LATCH_TRUSTED_PROXIES: {value!r} is not a network" in result.stderr


def test_the_old_proxy_count_stops_latch_and_names_the_new_setting():
    result = run_manage("check", LATCH_DEV_KEYS="1", LATCH_TRUSTED_PROXY_COUNT="1")

    assert result.returncode != 0
    assert "LATCH_TRUSTED_PROXY_COUNT is no longer read" in result.stderr
    assert "Set LATCH_TRUSTED_PROXIES" in result.stderr


# --- The issuer (OIDC Core §2 `iss`, RFC 8414 §2): configured, never the request's Host header -----

SHOW_ISSUER = "from django.conf import settings; print(settings.OAUTH2_PROVIDER['OIDC_ISS_ENDPOINT'])"


def test_production_refuses_to_start_without_an_issuer():
    result = run_manage("check", LATCH_DEV_KEYS="1", LATCH_ISSUER="")

    assert result.returncode != 0
    assert "LATCH_ISSUER must be set" in result.stderr


def test_development_may_leave_the_issuer_to_the_request():
    result = run_manage("shell", "-c", SHOW_ISSUER, LATCH_DEV_KEYS="1", DJANGO_DEBUG="1", LATCH_ISSUER="")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "issuer",
    [
        "https://latch.example.org",
        "https://latch.example.org:8443/idp",
        "http://localhost:8000",
        "http://127.0.0.1:8123",
    ],
)
def test_an_absolute_https_issuer_or_a_local_http_one_is_accepted(issuer):
    result = run_manage("shell", "-c", SHOW_ISSUER, LATCH_DEV_KEYS="1", LATCH_ISSUER=issuer)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "http://latch.example.org",
        "http://localhost.example.org",
        "latch.example.org",
        "/oauth",
        "ftp://latch.example.org",
        "https://",
        "https://latch.example.org/?tenant=1",
        "https://latch.example.org#top",
        "https://latch.example.org/",
        "https://admin:pw@latch.example.org",
    ],
)
def test_an_issuer_that_is_not_an_absolute_https_url_stops_latch(issuer):
    result = run_manage("check", LATCH_DEV_KEYS="1", LATCH_ISSUER=issuer)

    assert result.returncode != 0
    assert f"LATCH_ISSUER {issuer!r}" in result.stderr
