"""The benchmark's own PostgreSQL database: created for the run, dropped after it, nothing else touched.

The database named in DATABASE_URL is created by the run and dropped at its end. Its name must
contain "bench", and one that already exists is replaced only if a run that was killed left it
behind (it carries MARKER as its comment, and no run holds its lock): pointing DATABASE_URL at real
data, or starting a second run beside a first, cannot destroy anything.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import environ
import psycopg
from psycopg import sql

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/latch_bench"
MARKER = "Latch benchmark (python -m bench): created for one run, dropped when it ends"


class DatabaseRefused(RuntimeError):
    pass


def _settings(url: str) -> dict:
    config = environ.Env.db_url_config(url)
    if "postgresql" not in config["ENGINE"]:
        raise DatabaseRefused(f"the benchmark needs PostgreSQL; DATABASE_URL is {config['ENGINE']}")
    if "bench" not in config["NAME"]:
        raise DatabaseRefused(
            f"the benchmark creates and drops the database DATABASE_URL names ({config['NAME']!r}), so its "
            f"name must contain 'bench'; the default is {DEFAULT_URL}"
        )
    return config


def sibling_url(url: str, suffix: str) -> str:
    """The same server and credentials, the database `<name><suffix>` (the stock DOT server's)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def _maintenance(config: dict) -> psycopg.Connection:
    return psycopg.connect(
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def _comment(connection: psycopg.Connection, name: str) -> str | None:
    """The database's comment; None when there is no such database (\"\" when it has no comment)."""
    row = connection.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = %s",
        [name],
    ).fetchone()
    return None if row is None else row[0]


def _drop(connection: psycopg.Connection, name: str) -> None:
    connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"latch-bench:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def own_database(url: str) -> Iterator[str]:
    """Create the database, yield its name, and drop it however the run ends.

    A session advisory lock, held on the maintenance connection for the whole run, keeps two runs
    (two engineers on one machine) off the same database: the second is refused, not given a
    database the first then drops. A run that was killed lost its lock with its connection, so its
    leftover database can be replaced.
    """
    config = _settings(url)
    name = config["NAME"]
    with _maintenance(config) as connection:
        locked = connection.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(name)]).fetchone()
        if not (locked and locked[0]):
            raise DatabaseRefused(
                f"another benchmark run is using database {name!r}; wait for it to end, or give this one "
                f"another name in DATABASE_URL (for example {DEFAULT_URL}_2)"
            )
        comment = _comment(connection, name)
        if comment is not None:
            if comment != MARKER:
                raise DatabaseRefused(
                    f"database {name!r} already exists and was not made by the benchmark, which drops its "
                    f"database at the end: name one that does not exist in DATABASE_URL (the default is "
                    f"{DEFAULT_URL})"
                )
            _drop(connection, name)  # left behind by a run that was killed
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            connection.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARKER))
            )
            yield name
        finally:
            _drop(connection, name)
