"""The README's commands work as written, in a checkout after `make run`'s setup step.

A newcomer runs `make run` and then, in a second shell, the commands the README shows. This copies
the checkout (its files, not its var/ or .env), runs `make setup` there (what `make run` does before
it serves) with no DJANGO_* or LATCH_* variable set, then runs every `manage.py` command from the
README's shell blocks exactly as printed. A command that cannot run as printed (a placeholder such
as CLIENT_ID, an optional [--flag], a production secret file, a worker that never stops) is still
checked: the command exists and accepts every option the README gives it.
"""

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import ManagementUtility

from tests.processes import clean_environment

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PYTHON = ".venv/bin/python manage.py"
# What a checkout holds beyond its files: never copied.
NOT_COPIED = (".git", ".venv", "var", ".env", "staticfiles", "test-artifacts", "node_modules", "results")
# Commands that are complete as printed but cannot run here, and why.
NOT_RUN_HERE = {
    "--loop": "a worker that runs until it is stopped",
    "/run/secrets/": "reads a secret file on a production host",
    "payroll-jwks.json": "reads the app's own public keys",
}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$|\.\.\.|^\[|^<|^-$")


@dataclass(frozen=True)
class Command:
    line: str  # as printed, continuation lines joined
    section: str  # the README heading it is under

    @property
    def words(self) -> list[str]:
        return shlex.split(self.line, comments=True)

    @property
    def arguments(self) -> list[str]:
        """What comes after `manage.py`."""
        return self.words[2:]

    @property
    def why_not_run(self) -> str:
        if any(PLACEHOLDER.search(word) for word in self.arguments):
            return "has a placeholder"
        return next((why for marker, why in NOT_RUN_HERE.items() if marker in self.line), "")


def shell_lines(text: str) -> list[tuple[str, str]]:
    """Each logical line of the README's ```sh blocks, with the heading it is under."""
    lines, section, block, pending = [], "", False, ""
    for raw in text.splitlines():
        if raw.startswith("#") and not block:
            section = raw.lstrip("# ")
        elif raw.startswith("```"):
            block = raw == "```sh"
        elif block:
            pending += raw.rstrip("\\").strip() + " " if raw.endswith("\\") else raw.strip()
            if not raw.endswith("\\"):
                lines.append((pending.strip(), section))
                pending = ""
    return lines


def readme_commands() -> list[Command]:
    return [
        Command(line, section) for line, section in shell_lines(README.read_text()) if line.startswith(PYTHON)
    ]


COMMANDS = readme_commands()


def test_the_readme_shows_every_manage_py_command_with_the_virtualenvs_python():
    text = README.read_text()

    assert not re.findall(r"(?<![/\w.])python3? manage\.py", text)
    assert [
        line for line, _ in shell_lines(text) if line.startswith(("python manage", "gunicorn", "pip "))
    ] == []
    assert len(COMMANDS) >= 20


def test_every_command_of_the_first_hour_runs_as_written():
    first_hour = [command for command in COMMANDS if command.section == "Trying it out"]

    assert first_hour, "the README's 'Trying it out' section shows no manage.py command"
    assert [command.line for command in first_hour if command.why_not_run] == []


@pytest.mark.parametrize(
    "command", COMMANDS, ids=[command.line[len(PYTHON) + 1 :][:60] for command in COMMANDS]
)
def test_each_readme_command_exists_with_the_options_it_shows(command, capsys):
    positionals: list[str] = []
    for word in command.arguments:
        if word.startswith(("-", "[")) or PLACEHOLDER.search(word):
            break
        positionals.append(word)
    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", *positionals, "--help"]).execute()
    help_text = capsys.readouterr().out

    assert exit_.value.code in (0, None), help_text
    options = {
        match.group(1) for word in command.arguments if (match := re.match(r"^\[?(--[a-z][a-z0-9-]*)", word))
    }
    assert {option for option in options if option not in help_text} == set(), help_text


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of this checkout after `make setup`, which is `make run` without serving."""
    copy = tmp_path_factory.mktemp("checkout") / "latch"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_COPIED, "__pycache__", ".*_cache"))
    # The tested virtualenv, so that setup installs nothing (the copy keeps the requirements' times).
    (copy / ".venv").symlink_to(ROOT / ".venv")
    setup = run_in(copy, "make setup")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    before_banner = (setup.stdout + setup.stderr).split("Latch is starting on")[0]
    assert " INFO " not in before_banner, before_banner
    assert (copy / ".env").exists()
    return copy


def run_in(directory: Path, line: str) -> subprocess.CompletedProcess:
    """`line` in a shell in `directory`, as a newcomer's second shell would run it: none of Latch's
    variables, no database or cache URL, so the checkout's .env and SQLite database are what it uses."""
    environment = clean_environment(without=("DJANGO_", "LATCH_", "OIDC_", "DATABASE_", "CACHE_", "EMAIL_"))
    del environment["LATCH_DOTENV"]
    return subprocess.run(  # noqa: S603
        ["/bin/bash", "-c", line],
        cwd=directory,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_commands_run_as_written_in_a_second_shell(checkout):
    runnable = [command for command in COMMANDS if not command.why_not_run]
    failed = []

    for command in runnable:
        result = run_in(checkout, command.line)
        if result.returncode != 0:
            failed.append(f"{command.line}\n{result.stdout[-800:]}{result.stderr[-1600:]}")

    assert len(runnable) >= 10
    assert failed == [], "\n\n".join(failed)
    # What the first hour's commands left, through Latch's own shell in the copy.
    imported = run_in(
        checkout,
        f'{PYTHON} shell -c "from apps.members.models import Member; '
        "print(Member.objects.filter(email='margaret@example.org').count())\"",
    )
    assert imported.stdout.strip().splitlines()[-1] == "1", imported.stderr


def test_a_command_in_a_second_shell_says_what_is_missing_without_the_dotenv(checkout, tmp_path):
    # The same checkout without `make run`'s .env: the error names the way out.
    bare = tmp_path / "bare"
    shutil.copytree(checkout, bare, symlinks=True, ignore=shutil.ignore_patterns(".env", "var"))

    result = run_in(bare, f"{PYTHON} upstream_provider list")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set" in result.stderr
    assert "make run" in result.stderr
