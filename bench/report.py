"""The benchmark's arithmetic and presentation: wrk's result line in, the table and the JSON out.

Pure functions, no Django and no processes, so that tests/bench can pin them down.
"""

import json
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The line bench/wrk/scenario.lua prints in done().
RESULT_MARKER = "BENCH_RESULT "

# Ratios to `bare` from issue 7; `userinfo` and `dpop_resource` have none.
TARGETS = {
    "client_credentials": 0.35,
    "introspect": 0.5,
    "resource": 0.5,
    "refresh": 0.15,
    "code": 0.12,
}
SCALE_TARGET = 0.85
CLEANUP_TARGET = 0.8
MEMORY_TARGET_MB = 120.0


class WrkOutputError(ValueError):
    """wrk ended without the result line: the script failed, or wrk could not run at all."""


@dataclass(frozen=True)
class WrkRun:
    """One wrk run of one scenario."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: Mapping[int, int] = field(default_factory=dict)
    bad_body: int = 0  # 2xx whose body lacked what the scenario expects
    exhausted: int = 0  # pre-minted tokens or codes ran out
    socket_errors: int = 0  # connect, read, write and timeout errors
    sample: str = ""  # the first failed response: status and the start of its body
    # Runs whose drain counts (bench/run.py, the PBKDF2 scenarios): the requests still in flight
    # when wrk stopped, one a connection, which the server went on to serve, and how long it took.
    in_flight: int = 0
    drain_seconds: float = 0.0

    @property
    def served(self) -> int:
        """Requests the server served in the run: those wrk counted, and those it left in flight."""
        return self.requests + self.in_flight

    @property
    def rps(self) -> float:
        seconds = self.seconds + self.drain_seconds
        return self.served / seconds if seconds else 0.0

    @property
    def non2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    @property
    def failed(self) -> bool:
        return bool(self.non2xx or self.bad_body or self.exhausted or self.socket_errors)


def parse_wrk_output(text: str) -> WrkRun:
    """The WrkRun in wrk's output; WrkOutputError when the script's result line is missing."""
    lines = [line for line in text.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise WrkOutputError(f"no {RESULT_MARKER.strip()} line in wrk's output:\n{text[-2000:]}")
    data = json.loads(lines[-1][len(RESULT_MARKER) :])
    errors = data.get("errors") or {}
    return WrkRun(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=(data.get("p50_us") or 0) / 1000,
        p99_ms=(data.get("p99_us") or 0) / 1000,
        statuses={int(status): int(count) for status, count in (data.get("statuses") or {}).items()},
        bad_body=int(data.get("bad") or 0),
        exhausted=int(data.get("exhausted") or 0),
        socket_errors=sum(int(errors.get(kind) or 0) for kind in ("connect", "read", "write", "timeout")),
        sample=data.get("sample") or "",
    )


def _median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summarise(runs: Sequence[WrkRun], bare_runs: Sequence[WrkRun] | None = None) -> dict[str, Any]:
    """Median and spread of a scenario's rounds; each round's ratio is to the bare run of its round."""
    if not runs:
        raise ValueError("no runs to summarise")
    rates = [run.rps for run in runs]
    summary = {
        "rps": round(statistics.median(rates), 1),
        "rps_min": round(min(rates), 1),
        "rps_max": round(max(rates), 1),
        # Of the runs that saw answers: a drained PBKDF2 run may have none within its second.
        "p50_ms": _median_or_none([run.p50_ms for run in runs if run.requests]),
        "p99_ms": _median_or_none([run.p99_ms for run in runs if run.requests]),
        "non2xx": sum(run.non2xx for run in runs),
        "bad_body": sum(run.bad_body for run in runs),
        "exhausted": sum(run.exhausted for run in runs),
        "socket_errors": sum(run.socket_errors for run in runs),
        "requests": sum(run.requests for run in runs),
        "rounds_rps": [round(rate, 1) for rate in rates],
        "sample": next((run.sample for run in runs if run.sample), ""),
    }
    if bare_runs is not None:
        if len(bare_runs) != len(runs):
            raise ValueError("every round needs a run of the scenario and one of bare")
        ratios = [run.rps / bare.rps if bare.rps else 0.0 for run, bare in zip(runs, bare_runs, strict=True)]
        summary.update(
            ratio=round(statistics.median(ratios), 3),
            ratio_min=round(min(ratios), 3),
            ratio_max=round(max(ratios), 3),
        )
    return summary


def scenario_row(
    name: str,
    runs: Sequence[WrkRun],
    bare_runs: Sequence[WrkRun],
    *,
    queries: int,
    cpu_ms: tuple[float | None, float | None],
    what: str = "",
    bare_app_cpu_ms: float | None = None,
    unloaded: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A row of `scenarios` in latest.json: the rounds summarised, the SQL count, the CPU (also as a
    multiple of bare's), the one-connection latency, the target."""
    return {
        **summarise(runs, bare_runs),
        "queries": queries,
        "app_cpu_ms": cpu_ms[0],
        "db_cpu_ms": cpu_ms[1],
        "cpu_vs_bare": cpu_vs_bare(cpu_ms[0], bare_app_cpu_ms),
        "unloaded": dict(unloaded) if unloaded is not None else None,
        "unloaded_p50_ms": unloaded["p50_ms"] if unloaded else None,
        "target": TARGETS.get(name),
        "what": what,
    }


def cpu_vs_bare(app_cpu_ms: float | None, bare_app_cpu_ms: float | None) -> float | None:
    """A scenario's app CPU per request as a multiple of bare's: the cost of what the request does,
    in units of the stack's cheapest answer, which a busy machine moves far less than req/s."""
    if not app_cpu_ms or not bare_app_cpu_ms:
        return None
    return round(app_cpu_ms / bare_app_cpu_ms, 3)


def unloaded_summary(run: WrkRun, app_cpu_ms: float | None) -> dict[str, Any]:
    """One run with one connection (wrk -c1 -t1): latency without queueing, the unloaded p50
    (None when no answer came back within the run: no latency was measured)."""
    return {**summarise([run]), "app_cpu_ms": app_cpu_ms}


def _significant(value: float) -> float:
    """Three significant digits: Latch / stock spans 0.005 (PBKDF2's CPU) to 200."""
    return float(f"{value:.3g}")


def _quotient(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return _significant(numerator / denominator)


def versus(
    latch_runs: Sequence[WrkRun],
    stock_runs: Sequence[WrkRun],
    latch_row: Mapping[str, Any],
    stock_row: Mapping[str, Any],
) -> dict[str, Any]:
    """Latch / stock DOT for one scenario: req/s round by round (the two ran in the same rounds, so
    the machine's noise falls on both), app and app + db CPU per request, the unloaded p50.

    req/s above 1: Latch serves more; CPU and latency below 1: Latch spends less, answers sooner.
    """
    if len(latch_runs) != len(stock_runs):
        raise ValueError("every round needs a run of the Latch scenario and one of the stock one")
    ratios = [latch.rps / stock.rps for latch, stock in zip(latch_runs, stock_runs, strict=True) if stock.rps]
    latch_total = (latch_row.get("app_cpu_ms") or 0) + (latch_row.get("db_cpu_ms") or 0)
    stock_total = (stock_row.get("app_cpu_ms") or 0) + (stock_row.get("db_cpu_ms") or 0)
    return {
        "rps_ratio": _significant(statistics.median(ratios)) if ratios else None,
        "rps_ratio_min": _significant(min(ratios)) if ratios else None,
        "rps_ratio_max": _significant(max(ratios)) if ratios else None,
        "cpu_ratio": _quotient(latch_row.get("app_cpu_ms"), stock_row.get("app_cpu_ms")),
        "total_cpu_ratio": _quotient(latch_total or None, stock_total),
        "unloaded_p50_ratio": _quotient(latch_row.get("unloaded_p50_ms"), stock_row.get("unloaded_p50_ms")),
    }


_REMOVED = re.compile(r"^(\w+): removed (\d+)", re.MULTILINE)


def parse_cleanup_output(text: str) -> dict[str, int]:
    """Rows removed per model, from `manage.py cleanup_tokens` ("AccessToken: removed 5000 in ...")."""
    return {model: int(count) for model, count in _REMOVED.findall(text)}


def failures(document: Mapping[str, Any]) -> list[str]:
    """What makes the run invalid: any request that did not get the answer its scenario expects.

    A fast 401 is not a fast token endpoint: a benchmark with failed requests measures nothing.
    """
    rows: list[tuple[str, Mapping[str, Any]]] = list(document.get("scenarios", {}).items())
    rows += [
        (f"unloaded {name}", row["unloaded"])
        for name, row in document.get("scenarios", {}).items()
        if row.get("unloaded")
    ]
    rows += [(f"scale {name}", row) for name, row in document.get("scale", {}).get("scenarios", {}).items()]
    cleanup = document.get("cleanup") or {}
    rows += [(f"cleanup {name}", row) for name, row in cleanup.get("load", {}).items()]
    problems = []
    for name, row in rows:
        for key, what in (
            ("non2xx", "non-2xx responses"),
            ("bad_body", "2xx responses without the expected body"),
            ("exhausted", "requests after the pre-minted tokens ran out"),
            ("socket_errors", "socket errors or timeouts"),
        ):
            if row.get(key):
                sample = f" (first: {row['sample']!r})" if row.get("sample") else ""
                problems.append(f"{name}: {row[key]} {what}{sample}")
    return problems


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def milliseconds(value: float | None) -> str:
    return "no answer" if value is None else f"{value:.2f} ms"


def _ratio(value: float | None) -> str:
    """Three significant digits: Latch / stock spans 0.01 to 100."""
    return "-" if value is None else f"{value:.3g}"


def _verdict(value: float | None, target: float, *, at_most: bool = False) -> str:
    if value is None:
        return ""
    met = value <= target if at_most else value >= target
    return f"{'<=' if at_most else '>='} {target:g} {'met' if met else 'MISSED'}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _on(flag: bool) -> str:
    return "on" if flag else "OFF"


def _heading(document: Mapping[str, Any]) -> list[str]:
    settings, machine = document.get("settings", {}), document.get("machine", {})
    lines = [
        f"Latch benchmark, {document.get('date', '')}: {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores, load {machine.get('load_before', '?')} before the run; "
        f"PostgreSQL {machine.get('postgresql', '?')}",
        f"gunicorn {settings.get('gunicorn', '?')}; wrk {settings.get('connections', '?')} connections; "
        f"{settings.get('rounds', '?')} interleaved rounds of {settings.get('seconds', '?')} s after "
        f"{settings.get('warmup_seconds', '?')} s of warm-up; median (min-max) of the rounds"
        + ("; stock DOT beside Latch" if settings.get("stock") else ""),
    ]
    load = str(machine.get("load_before") or "").split(",")[0]
    if load and machine.get("cores") and float(load) > machine["cores"]:
        lines.append(
            f"NOTE: the machine was busy (load {load} on {machine['cores']} cores): throughput and ratios "
            "are noisy; CPU per request is steadier. Compare runs made on a quiet machine."
        )
    return lines


NAME_WIDTH = 31  # stock_client_credentials_pbkdf2


def _scenario_lines(scenarios: Mapping[str, Mapping[str, Any]]) -> list[str]:
    header = (
        f"{'scenario':<{NAME_WIDTH}} {'req/s':>7} {'(min-max)':<15} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'SQL/req':>7} {'app CPU':>8} {'db CPU':>7} {'CPU/bare':>8} {'1c p50':>7} "
        f"{'ratio':>6}  target"
    )
    lines = [header, "-" * len(header)]
    for name, row in scenarios.items():
        spread = f"({_number(row['rps_min'])}-{_number(row['rps_max'])})"
        target = TARGETS.get(name)
        lines.append(
            f"{name:<{NAME_WIDTH}} {_number(row['rps']):>7} {spread:<15} {_number(row['p50_ms'], 1):>7} "
            f"{_number(row['p99_ms'], 1):>7} {row['non2xx']:>7} {_number(row.get('queries')):>7} "
            f"{_number(row.get('app_cpu_ms'), 2):>8} {_number(row.get('db_cpu_ms'), 2):>7} "
            f"{_number(row.get('cpu_vs_bare'), 1):>8} {_number(row.get('unloaded_p50_ms'), 2):>7} "
            f"{row['ratio']:>6.3f}  {_verdict(row['ratio'], target) if target else ''}"
        )
    lines += [
        "(app CPU, db CPU: milliseconds of CPU per request in the gunicorn workers and in PostgreSQL;",
        " CPU/bare: app CPU per request over bare's; 1c p50: p50 latency in ms with one connection;",
        " ratio: req/s over bare's in the same round, median of the rounds)",
    ]
    return lines


def _stock_lines(versus_stock: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    header = (
        f"{'Latch / stock DOT':<19} {'stock scenario':<{NAME_WIDTH}} {'req/s':>7} {'(min-max)':<15} "
        f"{'app CPU':>8} {'+db CPU':>8} {'1c p50':>7}"
    )
    lines = [header, "-" * len(header)]
    for latch, stocks in versus_stock.items():
        for stock, row in stocks.items():
            spread = f"({_ratio(row['rps_ratio_min'])}-{_ratio(row['rps_ratio_max'])})"
            lines.append(
                f"{latch:<19} {stock:<{NAME_WIDTH}} {_ratio(row['rps_ratio']):>7} {spread:<15} "
                f"{_ratio(row['cpu_ratio']):>8} {_ratio(row['total_cpu_ratio']):>8} "
                f"{_ratio(row['unloaded_p50_ratio']):>7}"
            )
    lines.append(
        "(req/s: Latch's over stock DOT's in the same round, median (min-max); above 1 Latch serves more. "
        "app CPU, +db CPU, 1c p50: Latch's over stock's; below 1 Latch spends less, answers sooner)"
    )
    return lines


def _scale_lines(scale: Mapping[str, Any]) -> list[str]:
    lines = [
        f"scale: {_number(scale.get('rows'))} access-token rows (half live, half expired), "
        f"{_number(scale.get('refresh_rows'))} refresh-token and {_number(scale.get('code_rows'))} "
        f"code rows, seeded and vacuumed in {_number(scale.get('seed_seconds'), 1)} s; "
        f"{_plural(scale.get('rounds', 0), 'round')} of {scale.get('seconds', '?')} s"
    ]
    for name, row in scale.get("scenarios", {}).items():
        if name != "bare":
            lines.append(
                f"  {name:<17} {_number(row['rps']):>7} req/s, ratio to bare {row['ratio']:.3f} "
                f"({row['ratio_min']:.3f}-{row['ratio_max']:.3f}); vs the small tables "
                f"{row['vs_small']:.3f}  {_verdict(row['vs_small'], SCALE_TARGET)}; "
                f"by CPU per request {_number(row.get('cpu_vs_small'), 3)}"
            )
    return lines


def _cleanup_lines(cleanup: Mapping[str, Any]) -> list[str]:
    load = cleanup.get("load", {})
    removed = ", ".join(f"{name} {count:,}" for name, count in cleanup.get("removed", {}).items())
    stopped = "" if cleanup.get("complete") else ", stopped by --max-seconds"
    return [
        f"cleanup: client_credentials {_number(load.get('during', {}).get('rps'))} req/s while "
        f"cleanup_tokens ran ({_number(cleanup.get('seconds'), 1)} s{stopped}), "
        f"{_number(load.get('without', {}).get('rps'))} without: ratio {cleanup['ratio']:.3f}  "
        f"{_verdict(cleanup['ratio'], CLEANUP_TARGET)}",
        f"  removed {cleanup.get('removed_total', 0):,} rows: {removed}",
    ]


def _checks_lines(checks: Mapping[str, Any]) -> list[str]:
    return [
        f"kept on: fsync {checks['fsync']}, synchronous_commit {checks['synchronous_commit']}; client "
        f"secrets as {', '.join(checks['client_secret_hashers'])}; {checks['plaintext_tokens']} tokens "
        f"stored in plaintext; refresh rotation {_on(checks['refresh_rotation'])}, reuse detection "
        f"{_on(checks['refresh_reuse_protection'])}; {checks['audit_tokens_issued']:,} token.issued "
        "rows in the audit log"
    ]


def _stock_checks_lines(stock: Mapping[str, Any]) -> list[str]:
    iterations = stock.get("hasher_iterations")
    rounds = f" ({iterations:,} iterations)" if iterations else ""
    lines = [
        f"stock DOT: models {stock['application_model']}, client secrets hashed with "
        f"{stock['client_secret_hasher']}{rounds}, stored as {', '.join(stock['client_secrets_stored_as'])}; "
        f"{stock['plaintext_tokens']:,} tokens stored in plaintext (DOT's default); refresh rotation "
        f"{_on(stock['refresh_rotation'])}, reuse detection {_on(stock['refresh_reuse_protection'])}; "
        f"DEBUG {_on(stock['debug'])}"
    ]
    served = stock.get("served_vs_issued") or {}
    if served:
        lines.append(
            "  client_credentials requests counted / tokens the stock server issued: "
            + ", ".join(f"{name} {row['counted']:,} / {row['issued']:,}" for name, row in served.items())
        )
    return lines


def _memory_lines(memory: Mapping[str, Any]) -> list[str]:
    sizes = ", ".join(f"{worker['rss_mb']:.1f}" for worker in memory.get("workers", []))
    verdict = _verdict(memory.get("max_rss_mb"), MEMORY_TARGET_MB, at_most=True)
    return [f"memory: gunicorn workers' resident memory after the run: {sizes} MB  {verdict} MB"]


def format_table(document: Mapping[str, Any]) -> str:
    """The table `make bench` prints: one row a scenario (Latch's, then stock DOT's), Latch / stock
    DOT per scenario, then the scale, cleanup, kept-on and memory rows."""
    sections = [_heading(document), _scenario_lines(document.get("scenarios", {}))]
    for key, lines_of in (
        ("vs_stock", _stock_lines),
        ("scale", _scale_lines),
        ("cleanup", _cleanup_lines),
        ("checks", _checks_lines),
        ("stock_checks", _stock_checks_lines),
        ("memory", _memory_lines),
    ):
        if document.get(key):
            sections.append(lines_of(document[key]))
    return "\n\n".join("\n".join(section) for section in sections)
