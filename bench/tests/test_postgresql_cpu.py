"""PostgreSQL's CPU in a window counts the backends that came and went in it (pgbench's), and a
window that something else took CPU in is noisy."""

from pathlib import Path

import psycopg
import pytest
from django.db import connection

from bench import run as bench_run
from bench.common import TICK
from bench.run import (
    noisy_window,
    postgresql_children,
    postgresql_postmaster,
    postgresql_ticks,
    wait_for_backends_gone,
)

BOOT = 1_764_000_000


def write_stat(proc: Path, pid: int, *, parent: int, times: tuple[int, int, int, int], started_s: int = 0) -> None:
    """/proc/<pid>/stat with its parent, utime, stime, cutime, cstime and start time."""
    (proc / str(pid)).mkdir()
    fields = ["S", str(parent), *["0"] * 9, *map(str, times), "0", "0", "0", "0", str(started_s * TICK), "0"]
    (proc / str(pid) / "stat").write_text(f"{pid} (postgres) " + " ".join(fields))


def test_the_postmasters_reaped_children_count_and_other_processes_do_not(tmp_path):
    (tmp_path / "stat").write_text(f"cpu  1 2 3 4\nbtime {BOOT}\n")
    write_stat(tmp_path, 100, parent=1, times=(5, 6, 700, 80))  # the postmaster: own, then reaped children's
    write_stat(tmp_path, 101, parent=100, times=(10, 1, 0, 0))  # a backend running
    write_stat(tmp_path, 102, parent=100, times=(20, 2, 0, 0))
    write_stat(tmp_path, 200, parent=1, times=(900, 900, 0, 0))  # pgbench, or anything else
    (tmp_path / "self").mkdir()  # entries that are not processes
    assert postgresql_ticks(100, tmp_path) == 5 + 6 + 700 + 80 + 11 + 22


def test_a_child_reaped_while_the_children_are_listed_is_counted_once(tmp_path, monkeypatch):
    (tmp_path / "stat").write_text(f"cpu  1 2 3 4\nbtime {BOOT}\n")
    write_stat(tmp_path, 100, parent=1, times=(5, 6, 700, 80))
    write_stat(tmp_path, 101, parent=100, times=(10, 1, 0, 0))
    write_stat(tmp_path, 102, parent=100, times=(20, 2, 0, 0))
    listings = []

    def listed_as_102_is_reaped(postmaster, proc):
        children = real_children(postmaster, proc)
        if not listings:
            # 102 exits and is reaped after the postmaster's count was read and before the
            # listing reached it: its time moves into the postmaster's reaped children's.
            (proc / "102" / "stat").unlink()
            (proc / "102").rmdir()
            (proc / "100" / "stat").unlink()
            (proc / "100").rmdir()
            write_stat(proc, 100, parent=1, times=(5, 6, 720, 82))
            children.pop(102, None)
        listings.append(children)
        return children

    real_children = bench_run.postgresql_children
    monkeypatch.setattr(bench_run, "postgresql_children", listed_as_102_is_reaped)
    assert postgresql_ticks(100, tmp_path) == 5 + 6 + 720 + 82 + 11
    assert len(listings) == 2  # the first reading was not trusted


@pytest.mark.parametrize(
    "busy, accounted, noisy",
    [
        (200, 200, False),  # everything busy was measured
        (200, 160, True),  # 40 ticks of 200 per core's window: 20% of a core
        (200, 175, False),  # 25 ticks: 12.5%
    ],
)
def test_a_window_is_noisy_when_unmeasured_cpu_took_over_15_percent_of_a_core(busy, accounted, noisy, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert noisy_window(busy, 400, accounted) is noisy


def test_the_local_servers_backends_that_exit_still_count(postgresql_cursor):
    postmaster = postgresql_postmaster(postgresql_cursor)
    if postmaster is None:
        pytest.skip("the server is not a process of this machine's PID namespace")
    running_before = set(postgresql_children(postmaster))
    before = postgresql_ticks(postmaster)
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"] or None, port=settings["PORT"] or None
    ) as other:
        backend = other.info.backend_pid
        assert backend in postgresql_children(postmaster)
        # About half a second of one backend's CPU, then the backend exits with its connection.
        other.execute("SELECT count(*) FROM generate_series(1, 4000000) g WHERE g % 7 = 3").fetchone()
    wait_for_backends_gone(postmaster, running_before)
    # Gone and reaped: only the postmaster's count of its reaped children still holds its CPU.
    assert not Path(f"/proc/{backend}").exists()
    assert postgresql_ticks(postmaster) - before >= 0.1 * TICK
