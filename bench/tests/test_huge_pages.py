"""Whether PostgreSQL's shared memory is on huge pages, as the kernel counts them for a backend."""

from pathlib import Path

import pytest

from bench.common import TICK
from bench.run import huge_pages_mapped_kb, on_huge_pages, postgresql_huge_pages, reserved_huge_pages_free

BOOT = 1_764_000_000  # btime: seconds since the epoch


def fake_proc(tmp_path: Path, pid: int, *, started_after_boot_s: int, status: bytes, comm: bytes = b"postgres") -> Path:
    (tmp_path / "stat").write_text(f"cpu  1 2 3 4\nbtime {BOOT}\nprocesses 9\n")
    (tmp_path / "meminfo").write_text("MemTotal: 24000000 kB\nHugePages_Total:      80\nHugePages_Free:        8\n")
    proc_dir = tmp_path / str(pid)
    proc_dir.mkdir()
    # Fields 3 to 21, then the start time (22nd) in clock ticks after boot, then the rest.
    after = b" ".join([b"S", *[b"0"] * 18, str(started_after_boot_s * TICK).encode(), b"0", b"0"])
    (proc_dir / "stat").write_bytes(f"{pid} (".encode() + comm + b") " + after)
    (proc_dir / "status").write_bytes(status)
    return tmp_path


def test_the_backends_huge_pages_are_read_when_the_process_is_that_backend(tmp_path):
    proc = fake_proc(tmp_path, 4242, started_after_boot_s=600, status=b"Name:\tpostgres\nHugetlbPages:\t  145408 kB\n")
    assert huge_pages_mapped_kb(4242, BOOT + 600.4, proc) == 145408
    assert reserved_huge_pages_free(proc) == 8


def test_a_process_of_the_same_number_started_at_another_time_is_not_the_backend(tmp_path):
    # A server in a container, or on another machine: its backend's number names a process here.
    proc = fake_proc(tmp_path, 4242, started_after_boot_s=600, status=b"HugetlbPages:\t  0 kB\n")
    assert huge_pages_mapped_kb(4242, BOOT + 3600.0, proc) is None
    assert huge_pages_mapped_kb(4243, BOOT + 600.0, proc) is None  # no such process


def test_a_kernel_that_counts_no_huge_pages_and_a_command_name_that_is_not_text(tmp_path):
    proc = fake_proc(tmp_path, 7, started_after_boot_s=5, status=b"Name:\tpostgres\n", comm=b"post\xffgres) x")
    assert huge_pages_mapped_kb(7, BOOT + 5.0, proc) is None
    (proc / "7" / "status").write_bytes(b"HugetlbPages:\t       0 kB\n")
    assert huge_pages_mapped_kb(7, BOOT + 5.0, proc) == 0


def test_postgresql_17_says_itself_and_older_servers_are_judged_by_the_kernels_count():
    assert on_huge_pages({"status": "on", "mapped_kb": None}) is True
    assert on_huge_pages({"status": "off", "mapped_kb": None}) is False
    assert on_huge_pages({"status": None, "mapped_kb": 2048}) is True
    assert on_huge_pages({"status": None, "mapped_kb": 0}) is False
    assert on_huge_pages({"status": "unknown", "mapped_kb": None}) is None
    assert on_huge_pages({}) is None


def test_the_local_servers_pages_are_told_by_the_kernel(postgresql_cursor):
    pages = postgresql_huge_pages(postgresql_cursor)
    assert pages["setting"] in ("on", "off", "try")
    if pages["mapped_kb"] is None:
        pytest.skip("the server is not a process of this machine's PID namespace")
    if pages["mapped_kb"]:
        # Some of the kernel's reserved huge pages; `off` would have taken none.
        assert pages["setting"] in ("on", "try")
    else:
        # `on` would not have started on 4 kB pages.
        assert pages["setting"] != "on"
