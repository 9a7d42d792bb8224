"""The vCPU time the host took (steal) in a window: read from /proc/stat, recorded per window,
shown in the report's table, and quoted by a target's verdict when it is 1% or more."""

import json
from pathlib import Path

import pytest

from bench import run as bench_run
from bench.run import MachineTicks, machine_ticks, noisy_window, steal_cell, steal_pct, write_performance_doc
from bench.targets import judge

RESULT = Path(__file__).resolve().parents[1] / "results" / "2026-12-05T02-16-31Z.json"


def write_proc_stat(proc: Path, cpu_line: str) -> None:
    (proc / "stat").write_text(f"{cpu_line}\ncpu0 1 2 3 4\nbtime 1764000000\n")


def test_the_hosts_steal_is_busy_time_of_its_own_and_a_hosts_guest_time_is_not_counted_twice(tmp_path):
    #                   user nice system idle iowait irq softirq steal guest guest_nice
    write_proc_stat(tmp_path, "cpu  600 10 300 800 40 0 20 30 500 5")
    ticks = machine_ticks(tmp_path)
    # guest and guest_nice are already inside user and nice.
    assert ticks == MachineTicks(busy=600 + 10 + 300 + 20 + 30, total=1800, steal=30)


def test_a_kernel_without_the_steal_field_reads_none_stolen(tmp_path):
    write_proc_stat(tmp_path, "cpu  600 10 300 800 40 0 20")
    assert machine_ticks(tmp_path) == MachineTicks(busy=930, total=1770, steal=0)


def test_a_windows_steal_is_its_share_of_every_vcpus_time():
    before = MachineTicks(busy=1000, total=4000, steal=10)
    after = MachineTicks(busy=2500, total=6000, steal=60)
    assert steal_pct(before, after) == 2.5
    assert steal_pct(before, before) == 0.0


@pytest.mark.parametrize("stolen, noisy", [(40, True), (20, False)])
def test_steal_that_nothing_in_the_guest_accounts_for_makes_a_window_noisy(stolen, noisy, tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    write_proc_stat(tmp_path, "cpu  1000 0 500 3000 0 0 0 10")
    before = machine_ticks(tmp_path)
    # 2 vCPUs, 400 ticks: the platform's processes (300 ticks) account for all busy time but the steal.
    write_proc_stat(tmp_path, f"cpu  {1000 + 200} 0 {500 + 100} {3000 + 100 - stolen} 0 0 0 {10 + stolen}")
    after = machine_ticks(tmp_path)
    assert after.total - before.total == 400
    # 40 ticks stolen are 20% of a core's window, over the 15% that nothing may take unmeasured.
    assert noisy_window(after.busy - before.busy, after.total - before.total, accounted=300) is noisy
    assert steal_pct(before, after) == stolen / 4


def test_the_report_shows_each_windows_steal_in_a_column_of_its_own(tmp_path, monkeypatch):
    result = json.loads(RESULT.read_text())
    result["scenarios"][2]["steal_pct"] = 3.4  # runs before the column recorded none
    result["pgbench"]["steal_pct"] = 0.2
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "performance.md").write_text("# Performance\n")
    monkeypatch.setattr(bench_run, "ROOT", tmp_path)

    write_performance_doc(result)

    table = [line for line in (tmp_path / "docs" / "performance.md").read_text().splitlines() if line.startswith("|")]
    header, rule, *rows = table
    column = header.split(" | ").index("vCPU time the host took")
    assert all(row.count("|") == header.count("|") == rule.count("|") for row in rows)
    assert [row.split(" | ")[column] for row in rows][1:4] == ["-", "3.4%", "-"]
    assert "the host took 0.2%)" in (tmp_path / "docs" / "performance.md").read_text()


@pytest.mark.parametrize(
    "steal, figure",
    [
        (None, "2,101 req/s"),
        (0.9, "2,101 req/s"),
        (1.0, "2,101 req/s (the host took 1.0% of the vCPUs)"),
    ],
)
def test_a_verdict_quotes_the_hosts_steal_from_one_per_cent(steal, figure):
    result = json.loads(RESULT.read_text())
    if steal is not None:
        for window in result["scenarios"]:
            window["steal_pct"] = steal
    verdicts = {v.target: v for v in judge(result)}
    assert verdicts["debit:8"].figure == figure
    assert verdicts["debit:8"].met is True


def test_a_verdict_over_several_windows_quotes_the_most_the_host_took_and_pgbench_its_own():
    result = json.loads(RESULT.read_text())
    result["scenarios"][2] |= {"steal_pct": 1.5, "noisy": True}
    result["scenarios"].append(result["scenarios"][2] | {"steal_pct": 4.25, "noisy": False, "rps": 2050.0})
    result["pgbench"] |= {"steal_pct": 2.0, "noisy": False}
    verdicts = {v.target: v for v in judge(result)}
    assert verdicts["debit:8"].figure == ("2,101 req/s, 2,050 req/s (noisy; the host took up to 4.2% of the vCPUs)")
    assert verdicts["http÷db"].figure.endswith("tx/s (the host took 2.0% of the vCPUs)")


def test_the_cell_reads_dash_for_runs_that_did_not_record_it():
    assert steal_cell({"steal_pct": 0.04}) == "0.0%"
    assert steal_cell({}) == "-"
