"""The processes the benchmark starts (gunicorn, wrk, cleanup_tokens) and what /proc says about them.

Each is started in a session of its own, so that a Ctrl-C in the terminal reaches only the
harness, which then ends them itself, by their process group, and nothing else.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def children(pid: int) -> list[int]:
    """The live child processes of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # it ended while we looked
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (those that have ended count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (/proc/<pid>/status gives kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file ("" when there is none yet)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """End a process started with start_new_session and everything in its group: TERM, then KILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def running_threads(pids: list[int]) -> int:
    """Threads of the processes that are running or waiting for a core (state R in /proc)."""
    count = 0
    for pid in pids:
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue  # it ended
        for task in tasks:
            try:
                text = (task / "stat").read_text()
            except OSError:
                continue
            count += text[text.rindex(")") + 2 :].startswith("R")
    return count


def settle(pids: list[int], *, quiet_checks: int = 3, interval: float = 0.05, most: float = 60.0) -> None:
    """Wait until no thread of the processes runs or waits to run, `quiet_checks` times in a row.

    wrk stops at the end of a run, but the server finishes what it had already accepted: with
    PBKDF2-hashed secrets that is a request for each of the 16 connections, 0.4 s of CPU each,
    which would otherwise be counted to (and slow down) the scenario after it. The threads' state,
    not their CPU time, tells: on a busy machine a thread that waits for a core uses no CPU for a
    while, but it is runnable all along. Gives up after `most` seconds."""
    deadline, quiet = time.monotonic() + most, 0
    while quiet < quiet_checks and time.monotonic() < deadline:
        quiet = quiet + 1 if running_threads(pids) == 0 else 0
        time.sleep(interval)


class Gunicorn:
    """A WSGI application (Latch's by default) under gunicorn with bench/gunicorn.conf.py, on
    127.0.0.1:`port`, logging to `log`. Every server the run starts uses the same configuration."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        port: int,
        log: Path,
        workers: int,
        overrides: list[str],
        app: str = "config.wsgi:application",
    ) -> None:
        self.env, self.port, self.log, self.expected_workers = env, port, log, workers
        self.overrides = overrides  # command-line settings that win over the config file
        self.app = app
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(BENCH_DIR / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            *self.overrides,
            self.app,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/bench/bare", timeout=2) as response:  # noqa: S310
                    if response.status == 200 and len(self.workers()) >= self.expected_workers:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)


def run_wrk(*, url: str, spec: Path, seconds: int, connections: int, timeout: float) -> str:
    """wrk's output for one run of a scenario (one thread: the server, not wrk, is the bottleneck)."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--script",
        str(BENCH_DIR / "wrk" / "scenario.lua"),
        url,
        "--",
        str(spec),
    ]
    process = subprocess.Popen(  # noqa: S603 (wrk from PATH, our own arguments)
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        stop(process, grace=2)
    return output.decode(errors="replace")
