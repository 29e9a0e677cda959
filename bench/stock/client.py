"""The harness's side of bench/stock/helper.py: one JSON line out, one JSON line back."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.processes import ROOT, log_tail, stop


class HelperFailed(RuntimeError):
    pass


class StockHelper:
    """bench/stock/helper.py under the stock settings; `start()` returns once it has seeded."""

    def __init__(self, *, env: dict[str, str], log: Path, members: int) -> None:
        self.env, self.log, self.members = env, log, members
        self.process: subprocess.Popen | None = None
        self.clients: dict[str, dict[str, str]] = {}
        self.backend_pid = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [sys.executable, "-m", "bench.stock.helper", str(self.members)],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        ready = self._read()
        self.clients, self.backend_pid = ready["clients"], int(ready["backend_pid"])

    def _read(self) -> dict[str, Any]:
        if self.process is None or self.process.stdout is None:
            raise HelperFailed("the stock helper is not running")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise HelperFailed(f"the stock helper exited with {self.process.returncode}:\n{self.log_tail()}")
        answer = json.loads(line)
        if "error" in answer:
            raise HelperFailed(f"the stock helper answered: {answer['error']}")
        return answer

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        if self.process is None or self.process.stdin is None:
            raise HelperFailed("the stock helper is not running")
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def mint(self, kind: str, variant: str, count: int) -> list[tuple[str, ...]]:
        return [tuple(line) for line in self.ask("mint", kind=kind, variant=variant, count=count)["lines"]]

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.poll() is None and self.process.stdin:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop(self.process)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)
