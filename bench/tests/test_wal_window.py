"""What the server wrote during a scenario's window: WAL per request, full pages, checkpoints."""

from bench.run import checkpoint_in, wal_activity, wal_window


def test_the_window_sees_the_wal_written_and_a_checkpoint_started_in_it(postgresql_cursor):
    before = wal_activity(postgresql_cursor)
    postgresql_cursor.execute("CREATE TEMPORARY TABLE wal_window_probe (n int)")
    postgresql_cursor.execute("CREATE TABLE wal_window_logged AS SELECT generate_series(1, 1000) AS n")
    postgresql_cursor.execute("CHECKPOINT")
    after = wal_activity(postgresql_cursor)
    window = wal_window(before, after, requests=10)
    assert window["wal_kb_per_req"] > 0
    assert window["checkpoints_started"] >= 1
    assert checkpoint_in(window)


def test_per_request_figures_and_a_quiet_window():
    before = {"wal_bytes": 0, "wal_fpi": 10, "checkpoints": 3, "checkpoint_buffers": 100}
    after = {"wal_bytes": 3 * 1024 * 1000, "wal_fpi": 40, "checkpoints": 3, "checkpoint_buffers": 100}
    window = wal_window(before, after, requests=1000)
    assert window == {
        "wal_kb_per_req": 3.0,
        "wal_fpi_per_req": 0.03,
        "checkpoints_started": 0,
        "checkpoint_buffers_written": 0,
    }
    assert not checkpoint_in(window)
    assert not checkpoint_in({})  # runs before 2026-12-04 evening recorded none
    # A checkpoint just before the window: no counter moved in it, but its debits image pages.
    assert checkpoint_in({**window, "wal_fpi_per_req": 2.94})
