"""`make bench`: Latch and stock DOT under gunicorn, production settings, wrk, measured, one table.

What a run does, in order:

1. creates its own PostgreSQL database (DATABASE_URL, default latch_bench), migrates it and seeds
   clients and 50 members through Latch's services; signs with a fresh RSA key and secret key;
2. starts gunicorn (bench/gunicorn.conf.py) with DEBUG off, on 127.0.0.1, the cache in a Redis
   database of its own, and counts the SQL statements of one request of each scenario in-process;
3. creates a second database for stock django-oauth-toolkit (bench/stock/), which its helper
   process migrates and seeds through DOT's models, and serves it with a second gunicorn of the
   same configuration;
4. warms up each scenario, then runs the scenarios in interleaved rounds (bare, Latch's, stock
   DOT's, then again), so that the noise of a shared machine falls on all of them alike; then each
   once more with one connection, for the unloaded p50;
5. fills the token tables with `--scale` rows (INSERT ... SELECT FROM generate_series) and repeats
   bare, resource and introspect;
6. runs `manage.py cleanup_tokens` on that backlog while client_credentials load runs;
7. reads each worker's resident memory, prints the table, writes bench/results/latest.json;
8. always (also on failure or Ctrl-C): stops both servers, the helper, wrk and cleanup_tokens, drops
   both databases and empties its Redis database.

It fails (exit status 1) when any request of any scenario did not get the answer it should: a table
of fast 401s would measure nothing.
"""

import argparse
import json
import logging
import math
import os
import platform
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import database, report
from bench.processes import BENCH_DIR, ROOT, Gunicorn, cpu_seconds, rss_mb, run_wrk, settle, stop
from bench.scenarios import Lines, Scenario, scenarios, stock_scenarios, write_spec
from bench.stock.client import HelperFailed, StockHelper

RESULTS = BENCH_DIR / "results" / "latest.json"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/12"  # the test suite uses 15
WRK_MISSING = (
    "wrk is not installed. It drives the load: on Debian or Ubuntu `sudo apt-get install wrk`, "
    "on macOS `brew install wrk`."
)
# Environment the run sets itself; anything inherited under these names (or their _FILE forms,
# which settings prefer) would change what is measured.
OWN_PREFIXES = ("DJANGO_", "LATCH_", "OIDC_", "DATABASE_", "CACHE_URL", "EMAIL_URL", "GUNICORN_CMD_ARGS")
# manage.py cleanup_tokens, saying when Django is set up, so that the load beside it starts when
# the deleting does (setting Django up takes seconds on a busy machine).
CLEANUP_COMMAND = (
    "import sys, django; django.setup(); print('cleanup_tokens starts', flush=True); "
    "from django.core.management import call_command; "
    "call_command('cleanup_tokens', '--max-seconds', sys.argv[1])"
)
STARTED = time.monotonic()
# How long a pool of live tokens is used before a new one is minted: well within the shortest
# access-token lifetime of the seed (300 s, bench/seed.py's JWT app).
POOL_SECONDS = 120
# Before a spending scenario's first run: the rate of a scenario that does less, so that enough
# lines are minted (the bound-token call does what `resource` does, and checks a proof).
SPEND_RATE_GUESS = {"dpop_resource": "resource", "private_key_jwt": "client_credentials"}


def log(message: str) -> None:
    print(f"bench [{time.monotonic() - STARTED:5.1f} s]: {message}", file=sys.stderr, flush=True)


def parse_count(text: str) -> int:
    """`1M`, `10M`, `250k` or `5000` as a number of rows."""
    units = {"k": 1_000, "m": 1_000_000}
    text = text.strip().lower().replace("_", "")
    multiplier = units.get(text[-1:], 1)
    number = float(text[:-1] if text[-1:] in units else text)
    if number <= 0:
        raise ValueError(text)
    return int(number * multiplier)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: short rounds, small scale seed")
    parser.add_argument("--scale", type=parse_count, help="access-token rows for the scale row (1M; 10M)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per scenario (5; quick 1)")
    parser.add_argument("--seconds", type=int, help="seconds per round (4; quick 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument(
        "--slow-seconds", type=int, help="seconds of the unloaded run of a PBKDF2 scenario (3; quick 2)"
    )
    parser.add_argument("--only", help="comma-separated scenarios to run (bare is always run)")
    parser.add_argument(
        "--skip", default="", help="comma-separated phases to skip: stock, unloaded, scale, cleanup"
    )
    parser.add_argument("--workers", type=int, help="override bench/gunicorn.conf.py's workers")
    parser.add_argument("--threads", type=int, help="override bench/gunicorn.conf.py's threads")
    parser.add_argument("--worker-class", help="override bench/gunicorn.conf.py's worker_class")
    parser.add_argument("--members", type=int, default=50, help="members with logins to seed (50)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"the JSON results ({RESULTS})")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 5)
    args.seconds = args.seconds or (1 if quick else 4)
    args.warmup = 0 if quick else 2  # a smoke run's numbers are not for reading: no warm-up
    args.unloaded_seconds = 1 if quick else 2  # one connection: a few hundred requests on Latch
    # One connection to a scenario whose client check is a PBKDF2 hash (stock DOT's default): about
    # 0.4 s a request on a quiet machine; a longer run so that the p50 has a few answers.
    args.slow_seconds = args.slow_seconds or (2 if quick else 3)
    args.slow_round_seconds = 1
    args.scale = args.scale or (20_000 if quick else 1_000_000)
    # More, shorter rounds than the main phase: the same time, and the median resists a busy machine.
    args.scale_rounds = 1 if quick else 6
    args.scale_seconds = 1 if quick else 2
    args.cleanup_slice = 1 if quick else 2
    args.cleanup_slices = 1 if quick else 2  # before the command, and again after it
    args.cleanup_max_seconds = 2 if quick else 20
    return args


def gunicorn_settings(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The config file's values with the command line's overrides, and those overrides as flags."""
    values = {
        key: value
        for key, value in runpy.run_path(str(BENCH_DIR / "gunicorn.conf.py")).items()
        if key in ("worker_class", "workers", "threads", "keepalive")
    }
    values.setdefault("threads", 1)
    flags = []
    for key, flag in (("workers", "--workers"), ("threads", "--threads"), ("worker_class", "--worker-class")):
        override = getattr(args, key)
        if override is not None:
            values[key] = override
            flags += [flag, str(override)]
    return values, flags


def describe_gunicorn(values: dict[str, Any]) -> str:
    threads = f" x {values['threads']} threads" if values["worker_class"] == "gthread" else ""
    return f"{values['worker_class']}, {values['workers']} workers{threads}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def signing_key(path: Path) -> None:
    """A throw-away RSA-2048 key for the run's id_tokens, readable only by its owner."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)


def server_environment(*, workdir: Path, database_url: str, cache_url: str, port: int) -> dict[str, str]:
    """Production settings (config/settings.py reads them), for gunicorn and this process alike."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(OWN_PREFIXES)}
    signing_key(workdir / "oidc.pem")
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        OIDC_RSA_PRIVATE_KEY_FILE=str(workdir / "oidc.pem"),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        # Plain http on loopback: wrk speaks no TLS, and a redirect to https would be all it measured.
        DJANGO_SECURE_SSL_REDIRECT="0",
        LATCH_ISSUER=f"http://127.0.0.1:{port}",
        DATABASE_URL=database_url,
        # Keep connections open (the default is 60 s; a run is longer).
        DATABASE_CONN_MAX_AGE="600",
        CACHE_URL=cache_url,
        # Codes are minted before the rounds that redeem them; in production they live 60 s.
        LATCH_CODE_SECONDS="3600",
        # Only for keys not given above (the secret key and the signing key are the run's own): any
        # other key Latch requires, such as the connections vault's, is generated into var/.
        LATCH_DEV_KEYS="1",
        # Never the development settings `make run` leaves in the checkout's .env.
        LATCH_DOTENV="",
    )
    return env


def stock_environment(*, database_url: str) -> dict[str, str]:
    """The stock DOT project's environment (bench/stock/settings.py reads these, and nothing of
    Latch's): the same inherited environment, its own secret key and database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(OWN_PREFIXES)}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.stock.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",  # as Latch's server in the run
    )
    return env


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if "MemTotal" in line
        )
    except (OSError, StopIteration):
        memory_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_before": ", ".join(f"{load:.1f}" for load in os.getloadavg()),
    }


class BenchFailed(RuntimeError):
    pass


class Runner:
    """Runs the scenarios against the server and keeps what each run cost."""

    def __init__(
        self,
        *,
        args: argparse.Namespace,
        server: Gunicorn,
        fixtures,
        workdir: Path,
        stock: tuple[Gunicorn, StockHelper, str] | None = None,
    ) -> None:
        """`stock`: the stock DOT server, the helper that seeds its database, that database's name."""
        from bench import seed

        self.seed = seed
        self.args, self.server, self.fixtures, self.workdir = args, server, fixtures, workdir
        self.scenarios = scenarios(
            service_auth=fixtures.service.basic_auth,
            web_auth=fixtures.web.basic_auth,
            redirect_uri=seed.REDIRECT_URI,
        )
        self.servers = {"latch": server}
        self.stock = stock[1] if stock else None
        self.stock_database = stock[2] if stock else None
        if stock:
            self.servers["stock"] = stock[0]
            self.scenarios.update(stock_scenarios(stock[1].clients))
        self.pools: dict[str, tuple[Path, float]] = {}  # the lines, and when they were minted
        self.best_rps: dict[str, float] = {}
        # (phase, scenario) -> [app CPU seconds, database CPU seconds, requests]
        self.cpu: dict[tuple[str, str], list[float]] = {}

    # --- per-request values ------------------------------------------------------------------

    def _write_lines(self, name: str, rows: list[tuple[str, ...]]) -> Path:
        path = self.workdir / f"{name}.lines"
        path.write_text("".join("\t".join(row) + "\n" for row in rows))
        return path

    def mint(self, scenario: Scenario, count: int, base_url: str | None = None) -> list[tuple[str, ...]]:
        """`count` lines for a scenario: live tokens, or refresh tokens, codes and proofs to spend.

        A DPoP proof names the URL it is sent to: the server's, or `base_url` for this process's
        test client."""
        seed, web, users = self.seed, self.fixtures.web.application, self.fixtures.user_ids
        if scenario.server == "stock":
            return self._mint_stock(scenario, count)
        if scenario.name == "dpop_resource":
            url = (base_url or self.server.url) + scenario.path
            return seed.mint_dpop_requests(web, users, seed.MEMBER_SCOPE, count, url)
        if scenario.name == "jwt_resource":
            jwt_web = self.fixtures.jwt_web
            return [
                (token,) for token in seed.mint_jwt_access_tokens(jwt_web, users, seed.MEMBER_SCOPE, count)
            ]
        if scenario.name == "private_key_jwt":
            return seed.mint_client_assertions(self.fixtures.keyed, count)
        if scenario.name == "refresh":
            return [(token,) for token in seed.mint_refresh_tokens(web, users, count)]
        if scenario.name == "code":
            return seed.mint_codes(web, users, count)
        scope = seed.USERINFO_SCOPE if scenario.name == "userinfo" else seed.MEMBER_SCOPE
        return [(token,) for token in seed.mint_access_tokens(web, users, scope, count)]

    def _mint_stock(self, scenario: Scenario, count: int) -> list[tuple[str, ...]]:
        """Refresh tokens of the variant's own application (the one that redeems them); live
        access tokens for the resource and to be introspected (of the plain web application)."""
        if self.stock is None:
            raise BenchFailed(f"{scenario.name}: the stock server is not running")
        if scenario.lines is Lines.SPEND:
            variant = "pbkdf2" if scenario.name.endswith("_pbkdf2") else "plain"
            return self.stock.mint("refresh", variant, count)
        return self.stock.mint("access", "plain", count)

    def lines_for(self, scenario: Scenario, seconds: int) -> Path | None:
        if scenario.lines is Lines.NONE:
            return None
        if scenario.lines is Lines.CYCLE:
            path, minted = self.pools.get(scenario.name, (None, 0.0))
            # A fresh pool before the oldest tokens could expire: JWT access tokens live 5 minutes
            # (the seeded app's access_token_lifetime), and a run with stock DOT lasts longer.
            if path is None or time.monotonic() - minted > POOL_SECONDS:
                path = self._write_lines(scenario.name, self.mint(scenario, 500))
                self.pools[scenario.name] = (path, time.monotonic())
            return path
        # Enough for this run at the best rate seen, with room to spare. Before the first run, the
        # rate of client_credentials: every spending scenario is a token request that does more.
        rate = (
            self.best_rps.get(scenario.name)
            or self.best_rps.get(SPEND_RATE_GUESS.get(scenario.name, "client_credentials"))
            or self.best_rps.get("client_credentials")
            or self.best_rps.get("bare", 1000.0)
        )
        count = math.ceil(rate * seconds * 1.5) + 200
        return self._write_lines(scenario.name, self.mint(scenario, count))

    # --- one wrk run ---------------------------------------------------------------------------

    def backends(self, scenario: Scenario) -> list[int]:
        """The PostgreSQL backends of the scenario's server's database (not the stock helper's)."""
        if scenario.server == "stock" and self.stock is not None:
            return self.seed.backend_pids(self.stock_database, exclude=(self.stock.backend_pid,))
        return self.seed.backend_pids()

    def run(self, name: str, seconds: int, phase: str, connections: int | None = None) -> report.WrkRun:
        scenario = self.scenarios[name]
        server = self.servers[scenario.server]
        if scenario.slow and phase == "unloaded":
            seconds = max(seconds, self.args.slow_seconds)
        elif scenario.slow:
            # 16 PBKDF2 checks in flight are seconds of work already: the drain (below) is most of
            # the measurement, and a longer run would only queue more behind it.
            seconds = self.args.slow_round_seconds
        spec = write_spec(scenario, self.workdir, self.lines_for(scenario, seconds))
        workers, backends = server.workers(), self.backends(scenario)
        app_before, db_before = cpu_seconds(workers), cpu_seconds(backends)
        output = run_wrk(
            url=server.url,
            spec=spec,
            seconds=seconds,
            connections=connections or self.args.connections,
            timeout=seconds + 30,
        )
        result = report.parse_wrk_output(output)
        # Backends opened during the run started from zero CPU.
        new_backends = [pid for pid in self.backends(scenario) if pid not in backends]
        busy = workers + backends + new_backends
        if scenario.slow:
            # A PBKDF2 check is 0.4 s of CPU: when wrk stops, the server has a request of each
            # connection to go, seconds of work. The run counts until it is done: CPU and time up
            # to then, over the requests wrk counted and those it left in flight (one a connection).
            started = time.monotonic()
            settle(busy)
            result = replace(
                result,
                in_flight=connections or self.args.connections,
                drain_seconds=time.monotonic() - started,
            )
        app = cpu_seconds(workers) - app_before
        db = cpu_seconds(backends) - db_before + cpu_seconds(new_backends)
        # What the server still works on after wrk stopped is not the next scenario's.
        settle(busy)
        totals = self.cpu.setdefault((phase, name), [0.0, 0.0, 0])
        totals[0] += app
        totals[1] += db
        totals[2] += result.served
        self.best_rps[name] = max(self.best_rps.get(name, 0.0), result.rps)
        return result

    def cpu_ms(self, name: str, phase: str) -> tuple[float | None, float | None]:
        app, db, requests = self.cpu.get((phase, name), (0.0, 0.0, 0))
        if not requests:
            return None, None
        return round(app * 1000 / requests, 3), round(db * 1000 / requests, 3)

    def cpu_total(self, name: str, phase: str) -> float:
        app, db, requests = self.cpu.get((phase, name), (0.0, 0.0, 0))
        return (app + db) / requests if requests else 0.0

    def rounds(
        self, names: list[str], rounds: int, seconds: int, label: str
    ) -> dict[str, list[report.WrkRun]]:
        """A warm-up of each scenario, then `rounds` interleaved rounds of all of them."""
        for name in names:
            if self.scenarios[name].slow or not self.args.warmup:
                # The in-process count already sent two; a warm-up would cost a drain of seconds.
                continue
            warmup = self.run(name, self.args.warmup, "warm-up")
            if warmup.failed:
                raise BenchFailed(
                    f"{label} {name}: the warm-up already failed: {warmup.statuses} "
                    f"bad={warmup.bad_body} exhausted={warmup.exhausted} errors={warmup.socket_errors}; "
                    f"first failure: {warmup.sample!r}"
                )
        results: dict[str, list[report.WrkRun]] = {name: [] for name in names}
        for number in range(1, rounds + 1):
            for name in names:
                results[name].append(self.run(name, seconds, label))
            rates = ", ".join(f"{name} {runs[-1].rps:,.0f}" for name, runs in results.items())
            log(f"{label} round {number}/{rounds}: {rates} req/s")
        return results

    # --- SQL statements per request, counted in this process ----------------------------------

    def count_queries(self) -> dict[str, list[str]]:
        """The SQL of one request of each scenario, through Django's test client on the same database.

        Each scenario is sent three times and the last is counted: the first two pay for caches a
        long-running worker has already filled (the first stores the applications' generation,
        the second keeps the client's row: apps/oauth/client_cache.py).
        """
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client(HTTP_HOST="127.0.0.1")
        statements = {}
        for name, scenario in self.scenarios.items():
            lines = (
                self.mint(scenario, 3, "http://127.0.0.1") if scenario.lines is not Lines.NONE else [()] * 3
            )
            for fields in lines:
                method, path, headers, body = self.filled(scenario, list(fields))
                if scenario.server == "stock" and self.stock is not None:
                    # The stock project's settings live in the helper's process: it counts there.
                    answer = self.stock.ask("request", method=method, path=path, headers=headers, body=body)
                    status, text, sql = answer["status"], answer["body"], answer["sql"]
                else:
                    with CaptureQueriesContext(connection) as captured:
                        if method == "GET":
                            response = client.get(path, headers=headers)
                        else:
                            response = client.post(
                                path, body, content_type="application/x-www-form-urlencoded", headers=headers
                            )
                    status, text = response.status_code, response.content.decode(errors="replace")
                    sql = [query["sql"] for query in captured.captured_queries]
                if not 200 <= status < 300 or scenario.expect not in text:
                    raise BenchFailed(f"{name}: in-process request answered {status}: {text[:400]}")
            statements[name] = sql
        return statements

    @staticmethod
    def filled(scenario: Scenario, fields: list[str]) -> tuple[str, str, dict[str, str], str]:
        """Method, path, headers (but the content type, which the test client sets) and body."""
        headers = {
            name: scenario.fill(value, fields)
            for name, value in scenario.headers.items()
            if name.lower() != "content-type"
        }
        body = scenario.fill(scenario.body or "", fields)
        return scenario.method, scenario.fill(scenario.path, fields), headers, body

    def served_vs_issued(self, issued: dict[str, int]) -> dict[str, dict[str, int]]:
        """Stock client_credentials: the requests the harness counted (wrk's answers, plus the
        in-flight ones of the runs that drain, plus the two in-process ones) against the tokens
        the stock server issued. Equal for the PBKDF2 variant when the drain's count is right; the
        plain one issued one more per connection and run, the requests wrk left behind."""
        found = {}
        for variant in ("pbkdf2", "plain"):
            name = f"stock_client_credentials_{variant}"
            if name in self.scenarios:
                counted = sum(int(totals[2]) for (_, each), totals in self.cpu.items() if each == name)
                found[name] = {"counted": counted + 2, "issued": issued.get(f"Bench service ({variant})", 0)}
        return found

    # --- unloaded latency ----------------------------------------------------------------------

    def unloaded(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Each scenario with one connection (wrk -c1 -t1): its latency without any queue."""
        found = {}
        for name in names:
            result = self.run(name, self.args.unloaded_seconds, "unloaded", connections=1)
            found[name] = report.unloaded_summary(result, self.cpu_ms(name, "unloaded")[0])
        latencies = ", ".join(f"{name} {report.milliseconds(row['p50_ms'])}" for name, row in found.items())
        log(f"unloaded p50: {latencies}")
        return found

    # --- the scale row -------------------------------------------------------------------------

    def scale(self, main: dict[str, dict[str, Any]]) -> dict[str, Any]:
        names: list[str] = [name for name in ("bare", "resource", "introspect") if name in main]
        log(f"scale: seeding {self.args.scale:,} access-token rows with INSERT ... SELECT generate_series")
        started = time.monotonic()
        counts = self.seed.seed_scale(self.fixtures, self.args.scale)
        seed_seconds = time.monotonic() - started
        results = self.rounds(names, self.args.scale_rounds, self.args.scale_seconds, "scale")
        rows = {}
        for name in names:
            row = report.summarise(results[name], results["bare"])
            row["ratio_small"] = main[name]["ratio"]
            # Each ratio is to bare in its own phase, so machine noise between the phases cancels out.
            row["vs_small"] = round(row["ratio"] / main[name]["ratio"], 3) if main[name]["ratio"] else 0.0
            # What a busy machine disturbs far less than throughput: CPU per request, app and database.
            row["app_cpu_ms"], row["db_cpu_ms"] = self.cpu_ms(name, "scale")
            small, large = self.cpu_total(name, "main"), self.cpu_total(name, "scale")
            row["cpu_vs_small"] = round(small / large, 3) if small and large else None
            rows[name] = row
        return {
            "rows": counts["access_tokens"],
            "refresh_rows": counts["refresh_tokens"],
            "code_rows": counts["codes"],
            "seed_seconds": round(seed_seconds, 1),
            "rounds": self.args.scale_rounds,
            "seconds": self.args.scale_seconds,
            "target": report.SCALE_TARGET,
            "scenarios": rows,
        }

    # --- the cleanup row -----------------------------------------------------------------------

    def cleanup(self) -> dict[str, Any]:
        """client_credentials throughput while cleanup_tokens deletes the scale backlog, and without.

        The load runs in short slices: before the command, while it runs, and after it; the
        baseline is the slices before and after together.
        """
        load, slice_seconds, slices = "client_credentials", self.args.cleanup_slice, self.args.cleanup_slices
        before = [self.run(load, slice_seconds, "cleanup") for _ in range(slices)]
        log(f"cleanup: cleanup_tokens --max-seconds {self.args.cleanup_max_seconds} under {load} load")
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-c", CLEANUP_COMMAND, str(self.args.cleanup_max_seconds)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        during = []
        try:
            ready = b""
            while process.stdout and not ready.endswith(b"cleanup_tokens starts\n"):
                line = process.stdout.readline()  # until Django is set up: then the deleting starts
                if not line:
                    break
                ready += line
            started = time.monotonic()
            # A slice counts when the command was still running as it began.
            while process.poll() is None:
                during.append(self.run(load, slice_seconds, "cleanup"))
            rest, _ = process.communicate(timeout=120)
        finally:
            stop(process)
        seconds = time.monotonic() - started
        output = (ready + rest).decode(errors="replace")
        if process.returncode != 0:
            raise BenchFailed(f"cleanup_tokens exited with {process.returncode}:\n{output}")
        after = [self.run(load, slice_seconds, "cleanup") for _ in range(slices)]
        if not during:
            raise BenchFailed(f"cleanup_tokens ended before any load ran beside it:\n{output}")
        removed = report.parse_cleanup_output(output)
        without = before + after
        rows = {"without": report.summarise(without), "during": report.summarise(during)}
        ratio = statistics.median(run.rps for run in during) / statistics.median(run.rps for run in without)
        return {
            "ratio": round(ratio, 3),
            "target": report.CLEANUP_TARGET,
            "seconds": round(seconds, 1),
            "complete": "Stopped after" not in output,
            "removed": removed,
            "removed_total": sum(removed.values()),
            "load": rows,
        }

    def memory(self) -> dict[str, Any]:
        workers = [{"pid": pid, "rss_mb": round(rss_mb(pid), 1)} for pid in self.server.workers()]
        return {
            "workers": workers,
            "max_rss_mb": max((worker["rss_mb"] for worker in workers), default=0.0),
            "target_mb": report.MEMORY_TARGET_MB,
        }


@contextmanager
def signals_end_the_run() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP unwind the run, so that the cleanup in main() always runs.

    SIGINT too: a shell starts a background job with SIGINT ignored, and Python then keeps it so.
    """

    def unwind(signum, frame):
        log(f"stopped by signal {signal.Signals(signum).name}; cleaning up")
        raise SystemExit(128 + signum)

    previous = {
        signum: signal.signal(signum, unwind) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def flush_cache(cache_url: str) -> None:
    import redis

    redis.Redis.from_url(cache_url).flushdb()


def claim_database(teardown: ExitStack, url: str) -> str | None:
    """Create the database `url` names, dropped at teardown; None (said why) when it is refused."""
    try:
        name = teardown.enter_context(database.own_database(url))
    except database.DatabaseRefused as refused:
        log(str(refused))
        return None
    teardown.callback(log, f"dropping database {name}")
    return name


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log(WRK_MISSING)
        return 2
    database_url = os.environ.get("DATABASE_URL") or database.DEFAULT_URL
    cache_url = os.environ.get("BENCH_CACHE_URL") or DEFAULT_CACHE_URL
    gunicorn_values, gunicorn_flags = gunicorn_settings(args)
    started = time.monotonic()
    with ExitStack() as teardown, signals_end_the_run():
        workdir = Path(teardown.enter_context(tempfile.TemporaryDirectory(prefix="latch-bench-")))
        port = free_port()
        env = server_environment(workdir=workdir, database_url=database_url, cache_url=cache_url, port=port)
        with_stock = "stock" not in args.skip.split(",")
        stock_url = database.sibling_url(database_url, "_stock")
        stock_env = stock_environment(database_url=stock_url)
        for key in [key for key in os.environ if key.startswith(OWN_PREFIXES)]:
            del os.environ[key]
        os.environ.update(env)

        name = claim_database(teardown, database_url)
        if name is None:
            return 2
        log(f"created database {name}; migrating")

        import django

        django.setup()
        # This process seeds and counts; its INFO lines (each client created, each token issued while
        # counting) would bury the progress. The server logs as configured, audit lines included.
        logging.disable(logging.INFO)
        from django.core.management import call_command
        from django.db import connections

        from bench import seed

        teardown.callback(connections.close_all)
        teardown.callback(flush_cache, cache_url)
        call_command("migrate", verbosity=0, interactive=False)
        flush_cache(cache_url)
        fixtures = seed.seed_fixtures(args.members)

        server = Gunicorn(
            env=env,
            port=port,
            log=workdir / "gunicorn.log",
            workers=int(gunicorn_values["workers"]),
            overrides=gunicorn_flags,
        )
        teardown.callback(server.stop)
        log(f"starting gunicorn ({describe_gunicorn(gunicorn_values)}) on {server.url}")
        server.start()

        stock = None
        if with_stock:
            stock_name = claim_database(teardown, stock_url)
            if stock_name is None:
                return 2
            log(f"created database {stock_name}; migrating and seeding it for stock django-oauth-toolkit")
            helper = StockHelper(env=stock_env, log=workdir / "stock-helper.log", members=args.members)
            teardown.callback(helper.stop)
            stock_server = Gunicorn(
                env=stock_env,
                port=free_port(),
                log=workdir / "stock-gunicorn.log",
                workers=int(gunicorn_values["workers"]),
                overrides=gunicorn_flags,
                app="bench.stock.wsgi:application",
            )
            teardown.callback(stock_server.stop)
            try:
                helper.start()
            except HelperFailed as failure:
                log(f"FAILED: {failure}")
                return 1
            log(f"starting stock DOT's gunicorn on {stock_server.url}")
            stock_server.start()
            stock = (stock_server, helper, stock_name)

        runner = Runner(args=args, server=server, fixtures=fixtures, workdir=workdir, stock=stock)
        try:
            document = measure(runner, args, gunicorn_values)
        except (BenchFailed, HelperFailed) as failure:
            log(f"FAILED: {failure}")
            log(f"gunicorn's log ends with:\n{server.log_tail()}")
            if stock:
                log(f"stock DOT's gunicorn log ends with:\n{stock[0].log_tail()}")
            return 1
        document["machine"]["postgresql"] = seed.postgresql_version()
        document["settings"]["wall_seconds"] = round(time.monotonic() - started, 1)
        document["failures"] = report.failures(document)

    print(report.format_table(document))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    log(f"results in {args.output}; the whole run took {time.monotonic() - started:.0f} s")
    for problem in document["failures"]:
        log(f"FAILED: {problem}")
    return 1 if document["failures"] else 0


def measure(runner: Runner, args: argparse.Namespace, gunicorn_values: dict[str, Any]) -> dict[str, Any]:
    """Every phase of the run, as the JSON document."""
    document: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "gunicorn": describe_gunicorn(gunicorn_values),
            "connections": args.connections,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "unloaded_seconds": args.unloaded_seconds,
            "slow_seconds": args.slow_seconds,
            "stock": runner.stock is not None,
            "quick": args.quick,
        },
    }
    names = list(runner.scenarios)
    if args.only:
        # A Latch scenario brings its stock DOT equivalents along.
        wanted = {"bare", *args.only.split(",")}
        names = [name for name in names if name in wanted or runner.scenarios[name].compares in wanted]
        runner.scenarios = {name: runner.scenarios[name] for name in names}
    skip = set(args.skip.split(","))
    statements = runner.count_queries()
    log("SQL statements per request: " + ", ".join(f"{n} {len(s)}" for n, s in statements.items()))
    results = runner.rounds(names, args.rounds, args.seconds, "main")
    unloaded = runner.unloaded(names) if "unloaded" not in skip else {}
    bare_cpu = runner.cpu_ms("bare", "main")[0]
    rows = {
        name: report.scenario_row(
            name,
            results[name],
            results["bare"],
            queries=len(statements[name]),
            cpu_ms=runner.cpu_ms(name, "main"),
            what=runner.scenarios[name].what,
            bare_app_cpu_ms=bare_cpu,
            unloaded=unloaded.get(name),
        )
        for name in names
    }
    document["scenarios"] = rows
    document["sql"] = statements
    versus_stock: dict[str, dict[str, Any]] = {}
    for name in names:
        latch = runner.scenarios[name].compares
        if latch in rows:
            versus_stock.setdefault(latch, {})[name] = report.versus(
                results[latch], results[name], rows[latch], rows[name]
            )
    if versus_stock:
        document["vs_stock"] = versus_stock
    if runner.stock is not None:
        document["stock_checks"] = runner.stock.ask("checks")
        document["stock_checks"]["served_vs_issued"] = runner.served_vs_issued(
            document["stock_checks"].pop("access_tokens_issued")
        )
    if "scale" not in skip:
        document["scale"] = runner.scale(rows)
        if "cleanup" not in skip and "client_credentials" in names:
            document["cleanup"] = runner.cleanup()
    document["memory"] = runner.memory()
    document["checks"] = runner.seed.security_checks()
    document["settings"]["scale_rows"] = args.scale if "scale" not in skip else 0
    return document
