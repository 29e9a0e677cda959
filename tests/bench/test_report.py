"""The benchmark's pure parts: reading wrk's result line, the JSON rows, and failing on bad answers."""

import json
from dataclasses import replace

import pytest

from bench import report
from bench.report import WrkRun

# What bench/wrk/scenario.lua printed in a real run, after wrk's own summary.
WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:18765
  1 threads and 2 connections
  1546 requests in 1.10s, 282.33KB read
Requests/sec:   1405.34
BENCH_RESULT {"requests":1546,"statuses":{"200":1540,"401":6},"bad":2,"exhausted":0,\
"errors":{"connect":0,"read":1,"write":0,"timeout":3,"status":6},"p50_us":924,"p99_us":8382,\
"max_us":19582,"duration_us":1100092,"sample":"401 {\\"error\\": \\"invalid_client\\"}"}
"""


def run(rps: float, *, statuses: dict[int, int] | None = None, **fields) -> WrkRun:
    requests = int(rps * 2)
    return WrkRun(
        requests=requests, seconds=2.0, p50_ms=1.0, p99_ms=5.0, statuses=statuses or {200: requests}, **fields
    )


def test_the_result_line_is_read_from_wrk_output():
    parsed = report.parse_wrk_output(WRK_OUTPUT)

    assert parsed.requests == 1546
    assert parsed.seconds == pytest.approx(1.100092)
    assert parsed.rps == pytest.approx(1546 / 1.100092)
    assert (parsed.p50_ms, parsed.p99_ms) == (0.924, 8.382)
    assert parsed.statuses == {200: 1540, 401: 6}
    assert parsed.non2xx == 6
    assert parsed.bad_body == 2
    assert parsed.socket_errors == 4  # read and timeout; wrk's "status" counts the 401s again
    assert parsed.sample == '401 {"error": "invalid_client"}'
    assert parsed.failed


def test_output_without_the_result_line_is_an_error_not_zero_requests():
    with pytest.raises(report.WrkOutputError, match="BENCH_RESULT"):
        report.parse_wrk_output("unable to connect to 127.0.0.1:8000 Connection refused\n")


def test_redirects_count_as_failures_although_wrk_itself_does_not_count_them():
    assert run(100, statuses={200: 150, 302: 50}).non2xx == 50


def test_a_row_has_the_fields_scripts_read_and_bare_is_its_own_unit():
    bare = [run(1000), run(800), run(1200)]
    row = report.scenario_row("bare", bare, bare, queries=0, cpu_ms=(0.4, 0.0))

    assert {"rps", "p50_ms", "p99_ms", "non2xx", "queries", "ratio"} <= row.keys()
    assert row["ratio"] == 1.0
    assert (row["rps"], row["rps_min"], row["rps_max"]) == (1000.0, 800.0, 1200.0)
    assert row["non2xx"] == 0
    json.dumps(row)  # latest.json must be able to hold it


def test_each_round_is_compared_with_bare_of_the_same_round():
    # The machine slows down by half in round 2; the scenario's share of bare does not change.
    row = report.scenario_row(
        "client_credentials", [run(400), run(200)], [run(1000), run(500)], queries=5, cpu_ms=(3.5, 1.0)
    )

    assert row["ratio"] == pytest.approx(0.4)
    assert row["ratio_min"] == row["ratio_max"] == pytest.approx(0.4)
    assert row["target"] == report.TARGETS["client_credentials"]


def test_any_failed_request_fails_the_run_and_names_the_scenario():
    good = report.scenario_row("bare", [run(1000)], [run(1000)], queries=0, cpu_ms=(None, None))
    unauthorized = report.scenario_row(
        "client_credentials",
        [run(900, statuses={401: 1800}, sample='401 {"error": "invalid_client"}')],
        [run(1000)],
        queries=1,
        cpu_ms=(None, None),
    )
    document = {"scenarios": {"bare": good, "client_credentials": unauthorized}}

    problems = report.failures(document)

    assert len(problems) == 1
    assert problems[0].startswith("client_credentials: 1800 non-2xx responses")
    assert "invalid_client" in problems[0]


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        ({"bad_body": 3}, "without the expected body"),
        ({"exhausted": 1}, "ran out"),
        ({"socket_errors": 2}, "socket errors"),
    ],
)
def test_answers_that_are_not_what_the_scenario_expects_fail_the_run(fields, what):
    row = report.summarise([run(100, **fields)], [run(1000)])

    assert what in report.failures({"scenarios": {"introspect": row}})[0]


def test_failures_in_the_scale_and_cleanup_loads_count_too():
    bad = report.summarise([run(100, statuses={500: 1})])
    document = {
        "scenarios": {},
        "scale": {"scenarios": {"resource": bad}},
        "cleanup": {"load": {"during": bad}},
    }

    assert [problem.split(":")[0] for problem in report.failures(document)] == [
        "scale resource",
        "cleanup during",
    ]


def test_cleanup_output_gives_the_rows_removed_per_model():
    output = (
        "AccessToken: removed 500000 in 101 batches (20.31 s)\n"
        "RefreshToken: removed 0 in 1 batch (0.01 s)\n"
        "Stopped after 20.0 s (--max-seconds); the next run continues.\n"
    )

    assert report.parse_cleanup_output(output) == {"AccessToken": 500000, "RefreshToken": 0}


def test_the_table_shows_every_row_and_whether_each_target_is_met():
    bare = [run(1000)]
    document = {
        "date": "2026-11-26T12:00:00+00:00",
        "machine": {"cpu": "AMD EPYC", "cores": 2},
        "settings": {"gunicorn": "gthread, 2 workers x 4 threads"},
        "scenarios": {
            "bare": report.scenario_row("bare", bare, bare, queries=0, cpu_ms=(0.4, 0.0)),
            "introspect": report.scenario_row("introspect", [run(600)], bare, queries=2, cpu_ms=(1.5, 0.3)),
            "refresh": report.scenario_row("refresh", [run(100)], bare, queries=20, cpu_ms=(9.0, 2.0)),
        },
        "memory": {"workers": [{"pid": 1, "rss_mb": 95.0}], "max_rss_mb": 95.0},
    }

    table = report.format_table(document)

    assert "introspect" in table
    assert ">= 0.5 met" in table
    assert ">= 0.15 MISSED" in table
    assert "<= 120 met" in table


def test_the_table_warns_when_the_machine_was_busy_and_shows_the_scale_row():
    bare = [run(1000), run(900)]
    small = report.scenario_row("resource", [run(500), run(450)], bare, queries=3, cpu_ms=(5.0, 1.0))
    large = {**report.summarise([run(400), run(450)], bare), "vs_small": 0.9, "cpu_vs_small": 0.98}
    document = {
        "machine": {"cores": 2, "load_before": "9.0, 8.0, 7.0"},
        "scenarios": {"resource": small},
        "scale": {"rows": 1_000_000, "scenarios": {"resource": large}},
    }

    table = report.format_table(document)

    assert "NOTE: the machine was busy (load 9.0 on 2 cores)" in table
    assert "vs the small tables 0.900  >= 0.85 met; by CPU per request 0.980" in table


def test_cpu_per_request_is_also_given_as_a_multiple_of_bares():
    row = report.scenario_row(
        "resource", [run(300)], [run(1000)], queries=2, cpu_ms=(2.0, 0.5), bare_app_cpu_ms=0.5
    )

    assert row["cpu_vs_bare"] == 4.0
    assert report.cpu_vs_bare(2.0, None) is None
    assert report.cpu_vs_bare(None, 0.5) is None


def test_latch_is_compared_with_stock_round_by_round():
    # Round 2 runs on a machine twice as busy: Latch / stock stays 4 and 2, not their medians' quotient.
    latch = report.scenario_row(
        "introspect",
        [run(400), run(200)],
        [run(1000), run(500)],
        queries=2,
        cpu_ms=(2.0, 0.5),
        unloaded={"p50_ms": 3.0},
    )
    stock = report.scenario_row(
        "stock_introspect_plain",
        [run(100), run(100)],
        [run(1000), run(500)],
        queries=2,
        cpu_ms=(4.0, 0.5),
        unloaded={"p50_ms": 4.0},
    )

    compared = report.versus([run(400), run(200)], [run(100), run(100)], latch, stock)

    assert (compared["rps_ratio"], compared["rps_ratio_min"], compared["rps_ratio_max"]) == (3.0, 2.0, 4.0)
    assert compared["cpu_ratio"] == 0.5
    assert compared["total_cpu_ratio"] == pytest.approx(2.5 / 4.5, abs=0.001)
    assert compared["unloaded_p50_ratio"] == 0.75
    with pytest.raises(ValueError, match="every round"):
        report.versus([run(400)], [run(100), run(100)], latch, stock)


def test_a_run_that_drains_counts_the_requests_left_in_flight_and_the_time_they_took():
    # PBKDF2: wrk saw 4 answers in 4 s, 16 connections still waited, served in 4 s more.
    slow = WrkRun(requests=4, seconds=4.0, p50_ms=2000.0, p99_ms=3000.0, in_flight=16, drain_seconds=4.0)

    assert slow.served == 20
    assert slow.rps == pytest.approx(2.5)
    assert not slow.failed
    assert report.summarise([replace(slow, requests=0)])["p50_ms"] is None  # no answer, no latency


def test_an_unloaded_run_without_answers_has_no_latency_rather_than_zero():
    silent = WrkRun(requests=0, seconds=2.0, p50_ms=0.0, p99_ms=0.0, in_flight=1, drain_seconds=0.5)

    summary = report.unloaded_summary(silent, app_cpu_ms=400.0)

    assert summary["p50_ms"] is None
    assert summary["app_cpu_ms"] == 400.0


def test_failures_of_the_unloaded_runs_fail_the_run_too():
    row = report.scenario_row(
        "stock_resource",
        [run(100)],
        [run(1000)],
        queries=1,
        cpu_ms=(1.0, 0.1),
        unloaded=report.unloaded_summary(run(50, statuses={403: 100}), 1.0),
    )

    assert report.failures({"scenarios": {"stock_resource": row}}) == [
        "unloaded stock_resource: 100 non-2xx responses"
    ]


def test_the_table_shows_cpu_against_bare_unloaded_p50_and_latch_over_stock():
    bare = [run(1000)]
    latch = report.scenario_row(
        "client_credentials",
        [run(300)],
        bare,
        queries=5,
        cpu_ms=(3.0, 1.0),
        bare_app_cpu_ms=0.5,
        unloaded={"p50_ms": 4.25},
    )
    stock = report.scenario_row(
        "stock_client_credentials_pbkdf2",
        [run(5)],
        bare,
        queries=5,
        cpu_ms=(400.0, 1.0),
        bare_app_cpu_ms=0.5,
        unloaded={"p50_ms": 420.0},
    )
    document = {
        "scenarios": {"client_credentials": latch, "stock_client_credentials_pbkdf2": stock},
        "vs_stock": {
            "client_credentials": {
                "stock_client_credentials_pbkdf2": report.versus([run(300)], [run(5)], latch, stock)
            }
        },
        "stock_checks": {
            "application_model": "oauth2_provider.Application",
            "client_secret_hasher": "pbkdf2_sha256",
            "hasher_iterations": 1_500_000,
            "client_secrets_stored_as": ["pbkdf2_sha256", "plaintext"],
            "plaintext_tokens": 10,
            "refresh_rotation": True,
            "refresh_reuse_protection": False,
            "debug": False,
        },
    }

    table = report.format_table(document)
    client_credentials = next(line for line in table.splitlines() if line.startswith("client_credentials "))
    compared = next(
        line
        for line in table.splitlines()
        if "stock_client_credentials_pbkdf2" in line and line.startswith("client_credentials")
    )

    assert "CPU/bare" in table
    assert "1c p50" in table
    assert " 6.0 " in client_credentials
    assert " 4.25 " in client_credentials
    assert compared.split()[2:4] == ["60", "(60-60)"]
    assert "0.0075" in compared  # 3.0 ms of app CPU against 400
    assert "pbkdf2_sha256 (1,500,000 iterations)" in table
