"""Processes the tests start on their own (Latch or Django anew, runserver): their environment, a
free port, and a clean stop.

Settings are read once per process, so tests of what Latch does at start-up run it anew. Such a
process gets this one's environment without Latch's own variables, which each test then sets, and
never the development settings `make run` leaves in the checkout's .env (config/settings.py).
"""

import os
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
import requests

LATCH_PREFIXES = ("DJANGO_", "LATCH_", "OIDC_")


def clean_environment(*, without: tuple[str, ...] = LATCH_PREFIXES, **variables: str) -> dict[str, str]:
    """os.environ minus every variable that starts with one of `without`, plus `variables`."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(without)}
    environment["LATCH_DOTENV"] = ""
    environment.update(variables)
    return environment


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate, and kill what does not end within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(
    process: subprocess.Popen,
    answers: Callable[[], bool],
    *,
    name: str,
    log: Callable[[], str],
    timeout: float,
    poll: float = 0.1,
) -> None:
    """Return once `answers()` is true; fail the test, with `log()`, if the process exits first or
    `timeout` seconds pass. A request error while it starts counts as not answering yet."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log()}")
        try:
            if answers():
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{name} did not answer in {timeout:.0f} s:\n{log()}")
        time.sleep(poll)
