"""Context switches per request (bench/run.py `context_switches`): every thread of the web
workers and of PostgreSQL's processes counted, voluntary and not."""

import os
import threading
import time

from bench.run import context_switches, postgresql_pids, switches_cell


def write_task(proc, pid, tid, voluntary, involuntary):
    task = proc / str(pid) / "task" / str(tid)
    task.mkdir(parents=True)
    (task / "status").write_text(
        f"Name:\tgranian\nPid:\t{pid}\nvoluntary_ctxt_switches:\t{voluntary}\nnonvoluntary_ctxt_switches:\t{involuntary}\n"
    )


def test_every_thread_of_every_process_counts(tmp_path):
    write_task(tmp_path, 100, 100, 10, 1)
    write_task(tmp_path, 100, 101, 200, 5)  # a worker thread, not only the process's main thread
    write_task(tmp_path, 200, 200, 30, 0)
    assert context_switches([100, 200], proc=tmp_path) == 246
    # A process gone since it was listed counts nothing.
    assert context_switches([100, 300], proc=tmp_path) == 216


def test_a_real_thread_that_waits_is_counted():
    stop = threading.Event()
    waiter = threading.Thread(target=lambda: [stop.wait(0.001) for _ in range(50)])
    before = context_switches([os.getpid()])
    waiter.start()
    waiter.join()
    time.sleep(0.01)
    stop.set()
    # The waiter has gone (its own count with it), but the main thread slept on join and sleep.
    assert context_switches([os.getpid()]) > before


def test_postgresql_pids_are_the_postmaster_and_its_children(tmp_path):
    for pid, ppid in ((10, 1), (11, 10), (12, 10), (13, 99)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (postgres) S {ppid} " + "0 " * 20 + "\n")
    assert sorted(postgresql_pids(10, proc=tmp_path)) == [10, 11, 12]


def test_the_report_reads_dash_for_runs_that_did_not_record_switches():
    assert switches_cell({"web_switches_per_req": 7.94, "pg_switches_per_req": 4.02}) == "7.9 / 4.0"
    assert switches_cell({}) == "-"
