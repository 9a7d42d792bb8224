"""Context switches per request (bench/run.py `thread_switches`, `switches_between`): every
thread of the web workers and of PostgreSQL's processes counted, voluntary and not, and a
window's switches taken thread by thread."""

import os
import threading
import time

from bench.run import postgresql_pids, switches_between, switches_cell, thread_switches


def write_task(proc, pid, tid, voluntary, involuntary, started=1000):
    task = proc / str(pid) / "task" / str(tid)
    task.mkdir(parents=True, exist_ok=True)
    (task / "stat").write_text(f"{tid} (granian worker) S {pid} " + "0 " * 17 + f"{started} 0 0\n")
    (task / "status").write_text(
        f"Name:\tgranian\nPid:\t{pid}\nvoluntary_ctxt_switches:\t{voluntary}\n"
        f"nonvoluntary_ctxt_switches:\t{involuntary}\n"
    )


def test_every_thread_of_every_process_counts(tmp_path):
    write_task(tmp_path, 100, 100, 10, 1)
    write_task(tmp_path, 100, 101, 200, 5)  # a worker thread, not only the process's main thread
    write_task(tmp_path, 200, 200, 30, 0)
    assert thread_switches([100, 200], proc=tmp_path) == {
        (100, 100, 1000): 11,
        (100, 101, 1000): 205,
        (200, 200, 1000): 30,
    }
    # A process gone since it was listed counts nothing.
    assert sum(thread_switches([100, 300], proc=tmp_path).values()) == 216


def test_a_window_counts_each_threads_growth_and_the_threads_that_ended(tmp_path):
    before = {(100, 100, 1000): 11, (100, 101, 1000): 205, (200, 200, 1000): 30}
    after = {
        (100, 100, 1000): 15,  # +4
        (100, 101, 1000): 305,  # +100
        # (200, 200) ended inside the window: what it did there is lost, and said so.
        (300, 300, 5000): 7,  # started inside it: all its own
        (100, 102, 6000): 3,  # a new thread of a process that was there: all its own too
    }
    assert switches_between(before, after) == (114, 1)
    # A thread id reused after its first thread ended is not subtracted from the old count.
    assert switches_between({(100, 101, 1000): 500}, {(100, 101, 7000): 20}) == (20, 1)


def test_a_real_thread_that_waits_is_counted():
    before = thread_switches([os.getpid()])
    waited, release = threading.Event(), threading.Event()

    def wait_then_hold():
        for _ in range(5):
            time.sleep(0.001)  # each sleep leaves the vCPU: what is counted
        waited.set()
        release.wait()  # still running while the test reads its count

    waiter = threading.Thread(target=wait_then_hold)
    waiter.start()
    assert waited.wait(timeout=10)
    during = thread_switches([os.getpid()])
    release.set()
    waiter.join()
    switches, gone = switches_between(before, during)
    assert switches > 0 and gone == 0
    assert len(during) == len(before) + 1  # the waiter, a thread of this process, is listed
    # join() returns when the thread's Python side is done; the kernel may list its task a
    # moment longer. The waiter's own task is the one that must be gone.
    deadline = time.monotonic() + 5
    while waiter.native_id in {tid for _, tid, _ in thread_switches([os.getpid()])}:
        assert time.monotonic() < deadline, "the ended waiter is still listed"
        time.sleep(0.01)
    switches, gone = switches_between(during, thread_switches([os.getpid()]))
    assert gone >= 1  # the waiter has ended


def test_postgresql_pids_are_the_postmaster_and_its_children(tmp_path):
    for pid, ppid in ((10, 1), (11, 10), (12, 10), (13, 99)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (postgres) S {ppid} " + "0 " * 20 + "\n")
    assert sorted(postgresql_pids(10, proc=tmp_path)) == [10, 11, 12]


def test_the_report_reads_dash_for_runs_that_did_not_record_switches():
    assert switches_cell({"web_switches_per_req": 7.94, "pg_switches_per_req": 4.02}) == "7.9 / 4.0"
    assert switches_cell({}) == "-"
