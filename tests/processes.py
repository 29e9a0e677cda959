"""The environment for a test that starts Latch (or Django) in a fresh process.

Settings are read once per process, so tests of what Latch does at start-up run it anew. Such a
process gets this one's environment without Latch's own variables, which each test then sets, and
never the development settings `make run` leaves in the checkout's .env (config/settings.py).
"""

import os

LATCH_PREFIXES = ("DJANGO_", "LATCH_", "OIDC_")


def clean_environment(*, without: tuple[str, ...] = LATCH_PREFIXES, **variables: str) -> dict[str, str]:
    """os.environ minus every variable that starts with one of `without`, plus `variables`."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(without)}
    environment["LATCH_DOTENV"] = ""
    environment.update(variables)
    return environment
