"""What the harness hands wrk, and how it reads the --scale argument."""

import pytest

from bench.run import parse_count
from bench.scenarios import Lines, lua_literal, scenarios, stock_scenarios, write_spec


def test_strings_become_lua_literals_that_cannot_break_out_of_their_quotes():
    assert lua_literal('a "quoted" \\ line\n') == '"a \\34quoted\\34 \\92 line\\10"'
    assert lua_literal("é") == '"\\195\\169"'


def test_a_spec_is_a_lua_table_of_the_scenario():
    assert (
        lua_literal({"spend": True, "lines": None, "n": 3})
        == '{["spend"] = true, ["lines"] = nil, ["n"] = 3}'
    )


def test_spending_scenarios_take_a_fresh_line_per_request(tmp_path):
    found = scenarios(service_auth="Basic cw==", web_auth="Basic dw==", redirect_uri="https://x.test/cb")

    assert [name for name, s in found.items() if s.lines is Lines.SPEND] == [
        "dpop_resource",
        "private_key_jwt",
        "refresh",
        "code",
    ]
    spec = write_spec(found["code"], tmp_path, tmp_path / "code.lines").read_text()
    assert spec.startswith("return {")
    assert '["spend"] = true' in spec
    assert "redirect_uri=https%3A%2F%2Fx.test%2Fcb" in spec


def test_every_scenario_checks_the_body_of_its_answers():
    found = scenarios(service_auth="Basic cw==", web_auth="Basic dw==", redirect_uri="https://x.test/cb")

    assert all(scenario.expect for scenario in found.values())
    assert found["introspect"].expect == '"active": true'


@pytest.mark.parametrize(
    ("text", "rows"), [("1M", 1_000_000), ("10M", 10_000_000), ("250k", 250_000), ("5000", 5000)]
)
def test_scale_accepts_rows_with_a_unit(text, rows):
    assert parse_count(text) == rows


def test_scale_refuses_nonsense():
    with pytest.raises(ValueError, match="-1m"):
        parse_count("-1M")


STOCK_CLIENTS = {
    variant: {"service": f"Basic {variant}-service", "web": f"Basic {variant}-web"}
    for variant in ("pbkdf2", "plain")
}


def test_stock_dot_has_both_secret_variants_of_each_client_authenticated_scenario():
    found = stock_scenarios(STOCK_CLIENTS)

    assert list(found) == [
        "stock_client_credentials_pbkdf2",
        "stock_client_credentials_plain",
        "stock_introspect_pbkdf2",
        "stock_introspect_plain",
        "stock_resource",
        "stock_refresh_pbkdf2",
        "stock_refresh_plain",
    ]
    assert all(scenario.server == "stock" for scenario in found.values())
    assert found["stock_refresh_pbkdf2"].headers["Authorization"] == "Basic pbkdf2-web"
    assert found["stock_introspect_plain"].headers["Authorization"] == "Basic plain-service"
    assert "Authorization" in found["stock_resource"].headers  # a bearer token, no client secret


def test_each_stock_scenario_compares_with_a_latch_scenario_and_checks_the_same_answer():
    latch = scenarios(service_auth="Basic cw==", web_auth="Basic dw==", redirect_uri="https://x.test/cb")

    for scenario in stock_scenarios(STOCK_CLIENTS).values():
        assert scenario.compares in latch
        assert scenario.expect == latch[scenario.compares].expect
        assert scenario.lines is latch[scenario.compares].lines
        assert scenario.slow == scenario.name.endswith("_pbkdf2")


def test_latch_scenarios_run_on_latch():
    found = scenarios(service_auth="Basic cw==", web_auth="Basic dw==", redirect_uri="https://x.test/cb")

    assert {scenario.server for scenario in found.values()} == {"latch"}
    assert not any(scenario.slow or scenario.compares for scenario in found.values())
