"""Which scenarios a run accepts: a fixed rate of debits, of the mix, of the hot wallet or of the
lean reference debit, each at half of the same workload's 8-client rate measured before it,
unless --rate or its @N fixes it."""

import pytest

from bench.run import RATE_WORKLOADS, parse_args, scenario_label


def test_the_default_run_has_a_fixed_rate_of_each_workload_after_its_8_client_run():
    scenarios = parse_args([]).scenarios.split(",")
    for workload in RATE_WORKLOADS:
        if workload == "lean":
            continue  # at the target's 1,000/s, below
        rate = "rate" if workload == "debit" else f"rate:{workload}"
        assert scenarios.index(f"{workload}:8") < scenarios.index(rate)


def test_the_default_run_has_the_lean_debit_at_the_latency_targets_rate_right_after_the_platforms():
    # The same machine's p99 for a debit that is nothing but itself, minutes from the platform's.
    scenarios = parse_args([]).scenarios.split(",")
    assert scenarios.index("rate@1000") + 1 == scenarios.index("rate:lean@1000")


@pytest.mark.parametrize(
    "scenarios, extra",
    [
        ("debit:8,rate", []),
        ("mixed:8,rate:mixed,hot:8,rate:hot", []),
        ("rate,rate,rate", ["--rate", "1000"]),
        ("rate:hot", ["--rate", "500"]),
        ("lean:8,rate:lean", []),
        ("rate:lean@1000,rate@1000", []),
        ("lean:8,debit:8,debit:32,debit:1", []),
    ],
)
def test_accepted(scenarios, extra):
    assert parse_args(["--scenarios", scenarios, *extra]).scenarios == scenarios


@pytest.mark.parametrize(
    "scenarios, extra, message",
    [
        ("rate", [], "runs at half of an earlier debit:8"),
        ("debit:8,rate:mixed", [], "runs at half of an earlier mixed:8"),
        ("rate:mixed,mixed:8", [], "runs at half of an earlier mixed:8"),
        ("rate:lean", [], "runs at half of an earlier lean:8"),
        ("rate:credit", ["--rate", "100"], "a fixed rate runs one of debit, mixed, hot, lean"),
        ("rate:@1000", [], "a fixed rate runs one of debit, mixed, hot, lean"),
        ("debit", [], "a scenario is debit, mixed, hot or lean with its clients"),
        ("debit:eight", [], "a scenario is debit, mixed, hot or lean with its clients"),
        ("credit:8", [], "a scenario is debit, mixed, hot or lean with its clients"),
    ],
)
def test_refused_before_anything_is_seeded(scenarios, extra, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--scenarios", scenarios, *extra])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_the_report_names_a_fixed_rates_workload_except_the_debits():
    assert scenario_label({"name": "rate", "workload": "mixed"}) == "rate:mixed"
    assert scenario_label({"name": "rate", "workload": "hot"}) == "rate:hot"
    assert scenario_label({"name": "rate", "workload": "debit"}) == "rate"
    assert scenario_label({"name": "rate"}) == "rate"  # runs recorded before the workload was
    assert scenario_label({"name": "mixed"}) == "mixed"


def test_a_rate_fixed_by_its_spec_needs_no_earlier_run_and_says_its_rate():
    args = parse_args(["--scenarios", "rate@1000,rate:mixed@800"])
    assert [(name, workload, at) for _, name, _, workload, at in args.scenario_list] == [
        ("rate", "debit", 1000),
        ("rate", "mixed", 800),
    ]
    default = parse_args([]).scenarios.split(",")
    assert default.index("debit:8") < default.index("rate") < default.index("rate@1000") < default.index("debit:32")
    assert scenario_label({"name": "rate", "workload": "debit", "at": 1000}) == "rate@1000"
    assert scenario_label({"name": "rate", "workload": "hot", "at": 500}) == "rate:hot@500"
    assert scenario_label({"name": "rate", "workload": "lean", "at": 1000}) == "rate:lean@1000"


@pytest.mark.parametrize("spec", ["rate@0", "rate@fast", "debit:8@100", "rate@", "rate@²"])
def test_only_a_fixed_rate_takes_a_rate_per_second(spec, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--scenarios", spec])
    assert "only a fixed rate takes @" in capsys.readouterr().err


def test_every_make_bench_example_in_the_docs_is_accepted():
    import re
    import shlex

    from bench.common import ROOT

    examples = {
        args
        for doc in ("README.md", "docs/performance.md", "docs/decisions.md")
        for args in re.findall(r'make bench BENCH_ARGS="([^"]*)"', (ROOT / doc).read_text())
    }
    assert len(examples) > 10
    for args in examples:
        parse_args(shlex.split(args))
