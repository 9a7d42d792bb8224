"""`make bench`: the wallet hot path measured as in production, and checked.

Starts the web server as production does (bin/serve: granian; DEBUG off, persistent
connections), on PostgreSQL with Redis and a Celery worker, seeds players with live sessions,
then drives pre-signed wallet calls from a separate load generator (wrk, and an open-loop
generator for a fixed arrival rate). In the same run pgbench executes the SQL of a debit, to
give the database's own ceiling. Every run is checked afterwards (books reconcile, money
moved once per accepted transaction) and voided if it fails. Results: bench/results/<time>.json
and the table in docs/performance.md.
"""

import argparse
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, TICK, base_env, celery_command, fresh_database_with_django, process_ticks, stop
from bench.common import log as _log
from bench.targets import asserted_debit_queries, describe, judge, report_line

RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret"  # noqa: S105 - the throwaway bench database's sandbox secret


def log(message: str) -> None:
    _log("bench", message)


# --- CPU accounting ------------------------------------------------------------------------


class MachineTicks(NamedTuple):
    """The machine's vCPU time so far, all vCPUs together, in clock ticks (/proc/stat)."""

    busy: int  # neither idle nor waiting for I/O; the host's steal included
    total: int
    # Time a vCPU wanted to run while the hypervisor ran something else (KVM and Xen guests
    # report it; 0 on bare metal). Nothing in the guest accounts for it, so it counts as
    # unmeasured CPU in noisy_window, and each window records its share (steal_pct).
    steal: int


def machine_ticks(proc: Path = Path("/proc")) -> MachineTicks:
    # user nice system idle iowait irq softirq steal, then guest and guest_nice, which a
    # host counts inside user and nice already.
    fields = [int(x) for x in (proc / "stat").read_text().splitlines()[0].split()[1:9]]
    fields += [0] * (8 - len(fields))
    idle = fields[3] + fields[4]
    return MachineTicks(busy=sum(fields) - idle, total=sum(fields), steal=fields[7])


def steal_pct(before: MachineTicks, after: MachineTicks) -> float:
    """The share of the vCPUs' time in a window that the host took, in per cent."""
    return round(100 * (after.steal - before.steal) / max(1, after.total - before.total), 1)


def pids_of(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wal_activity(cursor) -> dict[str, int]:
    """The server's WAL position, full-page images and checkpoint counters. Their change over
    a scenario's window says how much WAL it wrote per request, how much of that was full
    pages (written for a page's first change after a checkpoint starts), and whether a
    checkpoint started or wrote inside the window. With max_wal_size at its default 1 GB,
    sustained debits start one every 2 to 3.5 minutes of benching here (2026-12-04, evening)."""
    cursor.execute("SELECT pg_stat_clear_snapshot()")  # not the figures cached earlier in a transaction
    cursor.execute(
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req,"
        " b.buffers_checkpoint FROM pg_stat_wal w, pg_stat_bgwriter b"
    )
    wal_bytes, fpi, checkpoints, buffers = cursor.fetchone()
    return {
        "wal_bytes": int(wal_bytes),
        "wal_fpi": int(fpi),
        "checkpoints": int(checkpoints),
        "checkpoint_buffers": int(buffers),
    }


def wal_window(before: dict[str, int], after: dict[str, int], requests: int) -> dict[str, float | int]:
    """What the server wrote during a window, per request where that is a rate."""
    return {
        "wal_kb_per_req": round((after["wal_bytes"] - before["wal_bytes"]) / 1024 / requests, 2),
        "wal_fpi_per_req": round((after["wal_fpi"] - before["wal_fpi"]) / requests, 3),
        "checkpoints_started": after["checkpoints"] - before["checkpoints"],
        "checkpoint_buffers_written": after["checkpoint_buffers"] - before["checkpoint_buffers"],
    }


# Full-page images per request above which a window is taken to follow a checkpoint closely:
# a debit touches a handful of pages, each imaged once per checkpoint.
FPI_AFTER_CHECKPOINT = 0.1


def checkpoint_in(scenario: dict) -> bool:
    """Whether a checkpoint started or wrote during the scenario's window, or one just before it
    made its debits write full pages (runs that recorded it)."""
    return bool(
        scenario.get("checkpoints_started")
        or scenario.get("checkpoint_buffers_written")
        or scenario.get("wal_fpi_per_req", 0) >= FPI_AFTER_CHECKPOINT
    )


def machine_probe(directory: Path) -> dict[str, float]:
    """How fast this VM is right now, next to each scenario: the same interpreter work (dicts,
    strings, JSON: what a callback does; median of three) and the same disk flushes (50
    fdatasyncs of 8 KiB, as a commit's WAL flush) every time. Idle-machine checks cannot see a
    neighbour on the host or a throttled disk; these can, and runs are only comparable where
    they agree."""
    import statistics

    def interpreter_work() -> float:
        started = time.perf_counter()
        table = {str(i): i * 2 for i in range(30_000)}
        json.loads(json.dumps(table))
        return (time.perf_counter() - started) * 1000

    cpu_ms = statistics.median(interpreter_work() for _ in range(3))
    path = directory / "flush-probe"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        page = b"\0" * 8192
        started = time.perf_counter()
        for _ in range(50):
            os.pwrite(fd, page, 0)
            os.fdatasync(fd)
        flush_ms = (time.perf_counter() - started) * 1000 / 50
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {"python_ms": round(cpu_ms, 1), "fdatasync_ms": round(flush_ms, 3)}


IDLE_WAIT_S = 60


def wait_for_idle(max_wait: float = IDLE_WAIT_S) -> tuple[float, bool]:
    """Wait until the machine is idle (< 15% busy over a second), at most `max_wait` seconds;
    returns the seconds waited and whether it was idle in the end."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        t0 = machine_ticks()
        time.sleep(1)
        t1 = machine_ticks()
        if (t1.busy - t0.busy) / max(1, t1.total - t0.total) < 0.15:
            return round(time.monotonic() - started, 1), True
    return round(time.monotonic() - started, 1), False


def idle_or_say(what: str, no_wait: bool) -> tuple[float, bool]:
    """wait_for_idle before `what`, saying so when the machine stayed busy: what is measured
    then is marked noisy."""
    if no_wait:
        return 0.0, True
    waited, idle = wait_for_idle()
    if not idle:
        log(f"{what}: the machine was still busy after {waited:.0f} s; measured all the same, marked noisy")
    return waited, idle


def noisy_window(busy: int, total: int, accounted: int) -> bool:
    """Whether CPU that nothing measured accounts for (`busy` ticks of the machine's, minus
    `accounted`) took more than 15% of a core over a window of `total` ticks (all cores')."""
    return busy - accounted > 0.15 * total / (os.cpu_count() or 1)


# --- The database's upkeep ----------------------------------------------------------------


def database_upkeep(*, vacuum: bool) -> float:
    """ANALYZE (and with `vacuum`, VACUUM) the bench database; seconds it took.

    After the warm-up, always: a freshly seeded database has statistics of near-empty journal,
    round and idempotency tables, and the generic plans that the web workers' connections
    cache for the wallet functions' statements on those statistics (sequential scans of
    "one-page" tables) stay until the next ANALYZE of each table. Production's tables have
    statistics; autovacuum keeps them current. When the server runs without autovacuum, as
    this machine's PostgreSQL does, the bench does its work before every scenario, outside
    the measured window: without it dead row versions pile up from scenario to scenario and no
    cached plan is ever refreshed (measured in docs/performance.md)."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)" if vacuum else "ANALYZE")
    return round(time.monotonic() - started, 1)


# --- Requests ------------------------------------------------------------------------------


def signed_lines(calls: list[tuple[int, str, dict]]) -> list[tuple[int, str, str, str, bytes]]:
    """(lane, path, payload) -> (lane, path, timestamp, signature, body). A lane's calls go to one
    wrk thread, in order: a player's win never overtakes its bet."""
    import orjson

    from provider.signing import sign_request

    ts = str(int(time.time()))
    lines = []
    for lane, path, payload in calls:
        body = orjson.dumps(payload)
        lines.append(
            (lane, path, ts, sign_request(secret=SECRET, timestamp=ts, method="POST", path=path, body=body), body)
        )
    return lines


# The open-loop generator's connections in a fixed-rate scenario: more than the server's 8
# threads, so that a slow answer does not hold back the requests due after it.
RATE_CONNECTIONS = 32


def open_loop_requests(lines: list[tuple[int, str, str, str, bytes]]) -> list[bytes]:
    """Signed lines as the raw HTTP/1.1 requests bench/loadgen.py sends."""
    return [
        (
            f"POST {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Provider-Id: sandbox\r\nX-Timestamp: {t}\r\nX-Signature: {s}\r\n"
            f"Content-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for _, p, t, s, b in lines
    ]


def run_rate(port: int, requests: list[bytes], rate: int):
    """Raw requests (open_loop_requests) sent open loop at `rate` over RATE_CONNECTIONS
    connections (bench/loadgen.py): a fixed-rate scenario's window and its lead-in."""
    from bench.loadgen import run_open_loop

    return run_open_loop(host="127.0.0.1", port=port, requests=requests, rate=rate, connections=RATE_CONNECTIONS)


def debit_call(prefix: str, i: int, player: int, amount: int = 10) -> tuple[int, str, dict]:
    from bench.seed import token_for

    return (
        player,
        "/api/v1/wallet/debit",
        {
            "transaction_id": f"{prefix}-d{i}",
            "session_token": token_for(player),
            "round_id": f"{prefix}-r{i}",
            "game_id": "sandbox:dice",
            "amount": amount,
            "currency": "EUR",
            "reason": "bet",
        },
    )


def scenario_calls(name: str, count: int, players: int, prefix: str, rng: random.Random) -> list[tuple[int, str, dict]]:
    from bench.seed import player_id_for

    if name == "debit":
        return [debit_call(prefix, i, rng.randrange(players)) for i in range(count)]
    if name == "hot":
        return [(i, *debit_call(prefix, i, 0)[1:]) for i in range(count)]  # one wallet, every lane
    if name == "lean":  # bench/lean.py: the same spread of wallets, a debit and nothing else
        wallets = [rng.randrange(players) for _ in range(count)]
        return [
            (w, "/lean/debit", {"wallet": w, "amount": 10, "transaction_id": f"{prefix}-d{i}"})
            for i, w in enumerate(wallets)
        ]
    # mixed: each block's debits interleaved with the previous block's settlements (a win
    # credit, or for 2% a rollback), plus 1% exact duplicates of earlier debits.
    calls: list[tuple[int, str, dict]] = []
    block = 100
    previous: list[tuple[int, int]] = []
    i = 0
    while len(calls) < count:
        current = [(i + k, rng.randrange(players)) for k in range(block)]
        i += block
        for k, (n, player) in enumerate(current):
            calls.append(debit_call(prefix, n, player))
            if k < len(previous):
                pn, pplayer = previous[k]
                if rng.random() < 0.02:
                    calls.append(
                        (
                            pplayer,
                            "/api/v1/wallet/rollback",
                            {
                                "transaction_id": f"{prefix}-rb{pn}",
                                "reference_transaction_id": f"{prefix}-d{pn}",
                                "player_id": player_id_for(pplayer),
                                "round_id": f"{prefix}-r{pn}",
                            },
                        )
                    )
                else:
                    calls.append(
                        (
                            pplayer,
                            "/api/v1/wallet/credit",
                            {
                                "transaction_id": f"{prefix}-c{pn}",
                                "player_id": player_id_for(pplayer),
                                "round_id": f"{prefix}-r{pn}",
                                "game_id": "sandbox:dice",
                                "amount": rng.choice([0, 0, 20]),
                                "currency": "EUR",
                                "reason": "win",
                            },
                        )
                    )
            if rng.random() < 0.01 and previous:
                pn, pplayer = rng.choice(previous)
                calls.append(debit_call(prefix, pn, pplayer))
        previous = current
    return calls[:count]


# --- The platform under test ---------------------------------------------------------------


class Platform:
    """The web server (and unless `worker` is off, a Celery worker) serving `app` on `port`."""

    def __init__(
        self,
        args: argparse.Namespace,
        env: dict[str, str],
        workdir: Path,
        *,
        app: str = "casino_platform.wsgi:application",
        port: int = 0,
        worker: bool = True,
    ):
        self.args, self.env, self.workdir = args, env, workdir
        self.app, self.port, self.worker = app, port or args.port, worker
        self.procs: list[subprocess.Popen] = []
        self.server_env: dict[str, str] = {}

    def start(self) -> None:
        log_file = (self.workdir / "platform.log").open("ab")
        command = {"granian": self.granian_command, "uwsgi": self.uwsgi_command}.get(
            self.args.server, self.gunicorn_command
        )()
        self.web = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **self.server_env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        self.procs = [self.web]
        if self.worker:
            celery = celery_command(
                "worker", "--pool=threads", "--concurrency=2", "--without-gossip", "--without-mingle"
            )
            self.procs.append(
                subprocess.Popen(celery, cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT)
            )
        self.wait_until_serving()

    def granian_command(self) -> list[str]:
        """Production's own start (bin/serve), on this port and shape."""
        granian = Path(sys.executable).parent / "granian"
        if not granian.exists():
            raise SystemExit(f"--server granian needs granian: {sys.executable} -m pip install -r requirements.txt")
        self.server_env = {
            "GRANIAN": str(granian),
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_WORKERS": str(self.args.workers),
            "WEB_THREADS": str(self.args.threads),
            "WSGI_APP": self.app,
            "GRANIAN_LOG_LEVEL": "warning",
            # bin/serve empties the metrics directory: a second server (the lean one) gets its own.
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / f"metrics-{self.port}"),
        }
        return ["sh", str(ROOT / "bin" / "serve"), "--backlog", "2048"]

    def uwsgi_command(self) -> list[str]:
        """For comparison runs only (casino_platform/uwsgi.ini says why it is not production's)."""
        return [
            str(Path(sys.executable).parent / "uwsgi"),
            "--ini",
            str(ROOT / "casino_platform" / "uwsgi.ini"),
            "--http11-socket",
            f"127.0.0.1:{self.port}",
            "--processes",
            str(self.args.workers),
            "--threads",
            str(self.args.threads),
        ]

    def gunicorn_command(self) -> list[str]:
        """For comparison runs (production's server before 2026-12-02: docs/performance.md)."""
        if importlib.util.find_spec("gunicorn") is None:
            raise SystemExit(
                f"--server gunicorn needs gunicorn: {sys.executable} -m pip install -r requirements-dev.txt"
            )
        return [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.args.workers),
            "--worker-class",
            self.args.worker_class,
            "--threads",
            str(self.args.threads),
            "--backlog",
            "2048",
            "--keep-alive",
            "30",
            "--http-parser",
            self.args.http_parser,
            "--log-level",
            "warning",
        ]

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                # Another server (a leftover of an earlier run?) may hold the port: never measure it.
                raise SystemExit(f"the web server exited at start; see {self.workdir / 'platform.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"the platform did not start; see {self.workdir / 'platform.log'}")

    def web_pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.web.pid)], capture_output=True, text=True).stdout
        return [self.web.pid, *[int(p) for p in children.split()]]

    def stop(self) -> None:
        stop(self.procs)


def write_requests(path: Path, lines: list[tuple[int, str, str, str, bytes]]) -> Path:
    """The load generator's input (bench/wrk_wallet.lua): one request per line."""
    path.write_bytes(b"".join(f"{n}\t{p}\t{t}\t{s}\t".encode() + b + b"\n" for n, p, t, s, b in lines))
    return path


def lean_server(
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    warm: list[tuple[int, str, str, str, bytes]],
    *,
    started: list["Platform"],
) -> "Platform":
    """The lean reference debit (bench/lean.py) on the platform's web server and worker shape,
    on the next port, warmed up. Added to `started` before it starts, so that the run stops it
    whatever fails after."""
    server = Platform(args, env, workdir, app="bench.lean_wsgi:application", port=args.port + 1, worker=False)
    started.append(server)
    server.start()
    # One second, with more debits than that can take: none is sent twice (no replay here).
    result, _ = run_wrk(args, write_requests(workdir / "lean-warm.tsv", warm), 8, 1, port=server.port)
    if result["exhausted"]:
        raise SystemExit("the lean warm-up ran out of requests: this machine needs a bigger warm-up")
    return server


def run_wrk(args, requests_file: Path, connections: int, duration: int, port: int = 0) -> tuple[dict, int]:
    threads = min(2, connections)
    env = {**os.environ, "BENCH_REQUESTS": str(requests_file)}
    proc = subprocess.Popen(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "wrk_wallet.lua"),
            f"http://127.0.0.1:{port or args.port}",
            "--",
            str(threads),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    _, _, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read().decode() if proc.stdout else ""
    match = re.search(r"BENCH_RESULT (\{.*\})", output)
    if not match:
        raise SystemExit(f"wrk failed:\n{output}")
    result = json.loads(match.group(1))
    return result, int((usage.ru_utime + usage.ru_stime) * TICK)


SETTLE_S = 1
# How long a fixed-rate scenario runs at its rate before its measured window (--rate-lead-in).
RATE_LEAD_IN_S = 35
# What a fixed rate can send: rate (debits), rate:mixed, rate:hot, and rate:lean, the lean
# reference debit (bench/lean.py) on its own server: the p99 of a debit that is nothing but
# itself, on the same machine, web server and disk, as rate@1000's control.
RATE_WORKLOADS = ("debit", "mixed", "hot", "lean")


def settle(
    args,
    server: "Platform",
    workdir: Path,
    name: str,
    prefix: str,
    rng: random.Random,
    rate: int = 0,
    workload: str = "debit",
) -> None:
    """A second of the scenario's own kind of calls at 8 clients, just before its measured
    window and outside it. The upkeep's ANALYZE invalidates every plan that the web workers'
    connections cache, and the first calls after it plan them again, on every connection at
    once: measured from the first request, a scenario began with 100 ms in which a third to
    two thirds of the debits took over 5 ms (up to 40 ms), up to half of the 150 requests
    beyond the p99 of a 15,000-request scenario. Production analyzes a busy table when a tenth
    of it has changed, hours apart, not every 15 s.

    A fixed-rate scenario settles at its own rate, open loop, for `--rate-lead-in` seconds
    (RATE_LEAD_IN_S): its p99 is the steady state of that rate. Without the lead-in its window
    carried the kernel's writeback of what the scenario before it dirtied, at twice the rate,
    and of the upkeep's VACUUM: Linux writes a file's dirty pages once they are 30 s old
    (vm.dirty_expire_centisecs), so a 15 s window right after `debit:8` met bursts that the
    same rate alone does not make (docs/performance.md, 2026-12-04, evening). Its calls are of
    its `workload`: debits, the mix, the hot wallet's or the lean debit's."""
    kind = workload if name == "rate" else name
    if name == "rate" and args.rate_lead_in > 0:
        assert rate > 0, "a fixed-rate scenario leads in at its own rate"
        calls = settle_calls(kind, prefix, args.players, rng, count=rate * args.rate_lead_in)
        lead_in = run_rate(server.port, open_loop_requests(signed_lines(calls)), rate)
        refused = sum(n for status, n in lead_in.statuses.items() if int(status) != 200)
        if refused or lead_in.socket_errors:
            log(
                f"{prefix}: its lead-in had {refused} answers other than 200 ({dict(lead_in.codes)}) and "
                f"{lead_in.socket_errors} socket errors; the window is measured all the same"
            )
        return
    calls = settle_calls(kind, prefix, args.players, rng)
    run_wrk(args, write_requests(workdir / f"{prefix}-settle.tsv", signed_lines(calls)), 8, SETTLE_S, port=server.port)


def settle_calls(
    name: str, prefix: str, players: int, rng: random.Random, count: int = 0
) -> list[tuple[int, str, dict]]:
    """The settling calls of scenario `prefix`: its own kind (`name`; "rate" is "debit"), with
    transaction ids of their own (`<prefix>settle-...`) that neither its checks nor the lean
    check count; the books' reconciliation covers them like every other movement. `count` of them, or as many as wrk
    gets for the settling second."""
    return scenario_calls(
        "debit" if name == "rate" else name, count or wrk_calls(name, SETTLE_S), players, f"{prefix}settle", rng
    )


def wrk_calls(name: str, seconds: int) -> int:
    """Calls to give wrk for `seconds` of scenario `name`: more than it can send here, since wrk
    sends the file again when it runs out, and a lean debit cannot be replayed."""
    return (12_000 if name == "lean" else 6_000) * seconds


# --- Profiling -----------------------------------------------------------------------------


def start_profiler(platform_: "Platform", seconds: int, out: Path) -> subprocess.Popen:
    """py-spy over every web worker, written as collapsed stacks for `summarize_profile` or a
    flame graph tool. Sampling costs the run some throughput: a profiled run is marked noisy."""
    if not shutil.which("py-spy", path=str(Path(sys.executable).parent)) and not shutil.which("py-spy"):
        raise SystemExit("--profile needs py-spy: pip install -r requirements-dev.txt")
    return subprocess.Popen(
        [
            shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy",
            "record",
            "--pid",
            str(platform_.web.pid),
            "--subprocesses",
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--nonblocking",
            # Only samples holding the GIL: the workers' Python CPU, not threads blocked in I/O.
            "--gil",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# Innermost frames where a worker thread waits rather than computes.
IDLE_FRAMES = ("wait (threading.py", "select (selectors.py", "accept (socket.py", "poll (selectors.py")
# psycopg waits for the server's answer in C below these frames.
DB_WAIT_FRAMES = ("Connection.wait (psycopg/connection.py", "BaseCursor._execute_send (psycopg/_cursor_base.py")


def summarize_profile(raw: Path, top: int = 30) -> tuple[float, list[tuple[str, float, float]]]:
    """Share of request-handling samples spent waiting for PostgreSQL, and for the rest (the
    web workers' own CPU) each frame's % on the stack and % as the innermost frame."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    busy = db_wait = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        innermost = frames[-1]
        if any(f in innermost for f in IDLE_FRAMES):
            continue
        count = int(count_text)
        if innermost.startswith(DB_WAIT_FRAMES):
            db_wait += count
            continue
        busy += count
        # Thread and process frames are on every stack; they say nothing.
        for frame in set(frames[1:]):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[innermost] = own.get(innermost, 0) + count
    if not busy:
        return 0.0, []
    ranked = sorted(inclusive.items(), key=lambda kv: kv[1], reverse=True)
    ranked = [kv for kv in ranked if not kv[0].startswith(("Thread", "_worker", "_WorkItem"))][:top]
    return 100 * db_wait / (busy + db_wait), [(f, 100 * n / busy, 100 * own.get(f, 0) / busy) for f, n in ranked]


# --- Checks after each run -----------------------------------------------------------------


def check_run(prefix: str, accepted_new: int, in_flight: int) -> dict:
    from ledger.models import JournalTransaction
    from ledger.reconciliation import ledger_reconcile

    report = ledger_reconcile()
    booked = JournalTransaction.objects.filter(provider_transaction_id__startswith=f"{prefix}-").count()
    problems = []
    if not report.ok:
        problems.append(f"reconciliation: {len(report.unbalanced)} unbalanced, {len(report.mismatches)} mismatched")
    # Requests still in flight when the load generator stopped counting were booked without
    # being counted: at most one per connection. Anything else is money moved without an
    # answer, or an answer without money moved.
    if not accepted_new <= booked <= accepted_new + in_flight:
        problems.append(f"{accepted_new} accepted (not replayed) answers but {booked} journal transactions")
    return {"ok": not problems, "problems": problems, "journal_transactions": booked}


# --- pgbench: the database's own ceiling for the same work --------------------------------

PGBENCH_SCRIPT = """
\\set pid random(0, :nplayers - 1)
SELECT {function}('sandbox', :provider, 'pgb-' || md5(random()::text || clock_timestamp()::text), 'debit',
  md5(random()::text), encode(sha256(('bench-token-' || :pid::text)::bytea), 'hex'), NULL,
  'pgb-' || md5(random()::text || clock_timestamp()::text), 'sandbox' || chr(58) || 'dice', 10, 'EUR', 'bet',
  false, '', now(), false, :clearing, 1800);
"""


def run_pgbench(args, db: dict, workdir: Path, players: int, postmaster: int | None) -> dict:
    """pgbench over `players` wallets (1: the hot wallet, as `hot:8`)."""
    from ledger.models import Account
    from provider.models import Provider

    script = workdir / "debit.sql"
    from wallet.services.debits import DEBIT_FUNCTION

    script.write_text(PGBENCH_SCRIPT.replace("{function}", DEBIT_FUNCTION))
    provider = Provider.objects.get(code="sandbox").pk
    clearing = Account.objects.get(key="provider:sandbox:EUR").pk
    from ledger.models import JournalTransaction

    booked_before = JournalTransaction.objects.filter(provider_transaction_id__startswith="pgb-").count()
    idle_wait, idle = idle_or_say(f"pgbench on {players} wallet{'s' if players > 1 else ''}", args.no_idle_wait)
    probe = machine_probe(workdir)
    running_before = set(postgresql_children(postmaster)) if postmaster is not None else set()
    machine_before = machine_ticks()
    pg_before = postgresql_ticks(postmaster)
    proc = subprocess.Popen(
        [
            "pgbench",
            "-n",
            # Prepared, as the platform's own connections run them (server-side binding).
            "--protocol=prepared",
            "-c",
            "8",
            "-j",
            "2",
            "-T",
            str(args.duration),
            "-f",
            str(script),
            "-D",
            f"nplayers={players}",
            "-D",
            f"provider={provider}",
            "-D",
            f"clearing={clearing}",
            "-h",
            database_host(),
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"],
            db["NAME"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, _, usage = os.wait4(proc.pid, 0)
    wait_for_backends_gone(postmaster, running_before)
    machine_after = machine_ticks()
    pg_after = postgresql_ticks(postmaster)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    pgbench_ticks = int((usage.ru_utime + usage.ru_stime) * TICK)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", stdout)
    failed = re.search(r"number of failed transactions: (\d+)", stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", stdout)
    if not tps:
        raise SystemExit(f"pgbench failed:\n{stdout}\n{stderr}")
    done = int(processed.group(1)) if processed else 0
    # pgbench cannot read the function's answer: count the debits it booked instead.
    booked = JournalTransaction.objects.filter(provider_transaction_id__startswith="pgb-").count() - booked_before
    if booked != done:
        raise SystemExit(f"pgbench: {done} calls but {booked} debits booked; the ceiling would be a lie")
    return {
        "clients": 8,
        "players": players,
        "tps": float(tps.group(1)),
        "failed": int(failed.group(1)) if failed else 0,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        # PostgreSQL's processes (postgresql_ticks), as in the scenarios; before 2026-12-04, late
        # night, and without a local postmaster: the machine's busy time less pgbench's.
        "pg_cpu_ms_per_tx": round(
            (
                pg_after - pg_before
                if postmaster is not None
                else machine_after.busy - machine_before.busy - pgbench_ticks
            )
            / TICK
            * 1000
            / max(1, done),
            3,
        ),
        "machine_probe": probe,
        "steal_pct": steal_pct(machine_before, machine_after),
        "idle_wait_s": idle_wait,
        "idle_before": idle,
        # CPU that neither pgbench nor PostgreSQL's processes (postgresql_ticks) spent, as a
        # scenario's; not judged without a local postmaster, whose exited backends are not seen.
        "noisy": not idle
        or (
            postmaster is not None
            and noisy_window(
                machine_after.busy - machine_before.busy,
                machine_after.total - machine_before.total,
                pgbench_ticks + pg_after - pg_before,
            )
        ),
    }


def count_debit_queries() -> int:
    """Statements one debit sends to PostgreSQL, counted on a real call (after a warm one)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.seed import token_for
    from provider.models import Provider
    from wallet.services import DebitRequest, wallet_debit

    provider = Provider.objects.get(code="sandbox")
    counts = []
    for n in range(2):
        request = DebitRequest(
            transaction_id=f"count-{n}",
            round_id=f"count-{n}",
            game_id="sandbox:dice",
            amount=1,
            currency="EUR",
            session_token=token_for(1),
        )
        with CaptureQueriesContext(connection) as queries:
            wallet_debit(provider=provider, request=request)
        counts.append(len(queries))
    return counts[-1]


# --- Reporting -----------------------------------------------------------------------------


def machine_info(args) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        # What bounds the database beside the code: its cache, its flushes, its checkpoints.
        pg_settings = {}
        names = (
            "shared_buffers",
            "synchronous_commit",
            "autovacuum",
            "commit_delay",
            "commit_siblings",
            "wal_sync_method",
            "max_wal_size",
            "checkpoint_timeout",
        )
        for name in (*names, *(n for n in args.pg_setting if n not in names)):
            cursor.execute(f"SHOW {name}")
            pg_settings[name] = cursor.fetchone()[0]
        huge_pages = postgresql_huge_pages(cursor)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        # Which build of it: pyenv's default build has no profile-guided optimization, Debian's
        # and the Docker image's have it (interpreter_note).
        "python_prefix": sys.base_prefix,
        "postgresql": pg_version,
        "postgresql_settings": pg_settings,
        # Its shared memory on huge pages or not (postgresql_huge_pages): its CPU per debit differs.
        "postgresql_huge_pages": huge_pages,
        "web_server": {
            "server": args.server,
            "workers": args.workers,
            "worker_class": args.worker_class if args.server == "gunicorn" else "wsgi",
            "threads": args.threads,
            "http_parser": http_parser_in_use(args) if args.server == "gunicorn" else args.server,
        },
        "players": args.players,
        "duration_s": args.duration,
        "upkeep": not args.no_upkeep,
        # Settled before each window (1 s at 8 clients), a fixed rate by running at it this long.
        "settle": not args.no_settle,
        "rate_lead_in_s": 0 if args.no_settle else args.rate_lead_in,
        # How the platform's connections send statements (DATABASE_SERVER_SIDE_BINDING,
        # DATABASE_PREPARE_THRESHOLD; the web workers read the same environment).
        "database_options": {
            name: settings.DATABASES["default"].get("OPTIONS", {}).get(name)
            for name in ("server_side_binding", "prepare_threshold")
        },
        # A directory: the server's Unix socket; else a TCP host (bench/common.py).
        "database_host": database_host(),
        # Which wallet calls ran as PostgreSQL functions (WALLET_*_IN_DATABASE).
        "in_database": {
            "debit": settings.WALLET_DEBIT_IN_DATABASE,
            "credit": settings.WALLET_CREDIT_IN_DATABASE,
            "rollback": settings.WALLET_ROLLBACK_IN_DATABASE,
        },
        # How an idle vCPU waits: it moved a fixed rate's CPU per request (2026-12-05).
        "cpu_idle": cpu_idle(),
        # Each local PostgreSQL backend a scheduling group of its own lengthened the closed
        # loop's p99 (docs/performance.md, 2026-12-05, late night).
        "scheduler": scheduler(),
    }


def cpu_idle(sys_root: Path = Path("/sys")) -> dict[str, str | None]:
    """The kernel's idle driver and governor and, on a KVM guest with the haltpoll driver, how
    long an idle vCPU polls for work before it halts (0: it halts at once, and a wake-up goes
    through the hypervisor). The haltpoll module's parameter can be there with another driver
    or none ("none": the vCPU halts at once), where it does nothing. None where this kernel
    has no such file."""
    return {
        "driver": kernel_setting(sys_root, "devices/system/cpu/cpuidle/current_driver"),
        "governor": kernel_setting(sys_root, "devices/system/cpu/cpuidle/current_governor_ro")
        or kernel_setting(sys_root, "devices/system/cpu/cpuidle/current_governor"),
        "guest_halt_poll_ns": kernel_setting(sys_root, "module/haltpoll/parameters/guest_halt_poll_ns"),
    }


def kernel_setting(root: Path, path: str) -> str | None:
    """One of the kernel's settings as it shows it under /sys or /proc; None where this kernel
    has no such file."""
    try:
        return (root / path).read_text().strip()
    except OSError:
        return None


def scheduler(proc: Path = Path("/proc")) -> dict[str, str | None]:
    """The kernel's automatic task groups (`kernel.sched_autogroup_enabled`). With them on,
    the scheduler shares a busy CPU fairly between sessions before it shares it between their
    threads, and every PostgreSQL backend starts a session of its own (the postmaster's
    children call setsid()), while the web workers, Celery and the load generator share the
    bench's: one group per busy backend against one for the whole web tier, where they all
    sit in the root CPU control group (a process in a group of its own under the CPU
    controller is not grouped by session). None where this kernel has no such setting
    (built without CONFIG_SCHED_AUTOGROUP)."""
    return {"autogroup": kernel_setting(proc, "sys/kernel/sched_autogroup_enabled")}


def postgresql_huge_pages(cursor, proc: Path = Path("/proc")) -> dict:
    """Whether the server's shared memory is on huge pages. `huge_pages = try`, the default,
    falls back to 4 kB pages without a word when the kernel has too few reserved, and
    PostgreSQL before 17 cannot say which it got (17's `huge_pages_status` can). The kernel
    can, for a server on this machine: a backend inherits the postmaster's mapping and
    counts its huge pages in `/proc/<pid>/status` (`HugetlbPages`)."""
    cursor.execute(
        "SELECT current_setting('huge_pages'), current_setting('huge_pages_status', true), "
        "current_setting('shared_memory_size_in_huge_pages', true), pg_backend_pid(), "
        "extract(epoch FROM backend_start) FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )
    setting, status, needed, pid, backend_start = cursor.fetchone()
    return {
        "setting": setting,
        "status": status,  # on, off or unknown from PostgreSQL 17; None before
        "needed": int(needed) if needed and int(needed) > 0 else None,  # NULL before 15, -1: not computable
        "mapped_kb": huge_pages_mapped_kb(pid, float(backend_start), proc),
        "free": reserved_huge_pages_free(proc),
    }


def process_stat(pid: int, proc: Path = Path("/proc")) -> list[bytes]:
    """The fields of `/proc/<pid>/stat` after the command's closing parenthesis (the state is
    [0], the parent [1], user and system time [11] and [12], those of reaped children [13] and
    [14], the start time [19])."""
    return (proc / str(pid) / "stat").read_bytes().rsplit(b")", 1)[1].split()


def is_process_started_at(pid: int, epoch: float, proc: Path = Path("/proc")) -> bool:
    """Whether this machine's process `pid` started at `epoch` (within 2 s): the test that a
    number PostgreSQL gives names the same process here, not another one (a server elsewhere,
    or in a container's PID namespace, where the number names another process or none)."""
    try:
        boot = next(
            float(line.split()[1]) for line in (proc / "stat").read_text().splitlines() if line.startswith("btime ")
        )
        return abs(boot + int(process_stat(pid, proc)[19]) / TICK - epoch) <= 2
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def huge_pages_mapped_kb(pid: int, backend_start: float, proc: Path = Path("/proc")) -> int | None:
    """The huge pages the backend `pid` maps, in kB; None where this machine's process of
    that number is not that backend (is_process_started_at)."""
    if not is_process_started_at(pid, backend_start, proc):
        return None
    try:
        found = re.search(rb"^HugetlbPages:\s+(\d+) kB", (proc / str(pid) / "status").read_bytes(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def postgresql_postmaster(cursor, proc: Path = Path("/proc")) -> int | None:
    """The server's postmaster on this machine (the parent of this connection's backend, that
    started when the server says it did); None for a server elsewhere."""
    cursor.execute(
        "SELECT pg_backend_pid(), extract(epoch FROM backend_start), extract(epoch FROM pg_postmaster_start_time()) "
        "FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )
    pid, backend_start, postmaster_start = cursor.fetchone()
    if not is_process_started_at(pid, float(backend_start), proc):
        return None
    try:
        parent = int(process_stat(pid, proc)[1])
    except (OSError, ValueError, IndexError):
        return None
    return parent if is_process_started_at(parent, float(postmaster_start), proc) else None


def postgresql_children(postmaster: int, proc: Path = Path("/proc")) -> dict[int, int]:
    """The postmaster's children now running, each with the CPU (in ticks) it has spent."""
    children = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = process_stat(int(entry.name), proc)
        except OSError:
            continue  # gone since the listing
        if int(fields[1]) == postmaster:
            children[int(entry.name)] = int(fields[11]) + int(fields[12])
    return children


def postgresql_ticks(postmaster: int | None, proc: Path = Path("/proc")) -> int:
    """The CPU (in ticks) PostgreSQL's processes have spent so far: the postmaster's, its
    children's now running, and those of the children it has reaped, so that backends that
    came and went in a window (pgbench's, autovacuum's workers) count too. Without a local
    postmaster, the processes named postgres now running."""
    if postmaster is None:
        return process_ticks(pids_of("postgres"))
    try:
        # A child reaped between the postmaster's count and the listing of its children would
        # be in neither: read the count again after the listing, until it has not moved.
        for _ in range(20):
            own = [int(process_stat(postmaster, proc)[i]) for i in (11, 12, 13, 14)]
            children = postgresql_children(postmaster, proc)
            if [int(process_stat(postmaster, proc)[i]) for i in (13, 14)] == own[2:]:
                break
    except OSError:
        return process_ticks(pids_of("postgres"))
    return sum(own) + sum(children.values())


def postgresql_pids(postmaster: int | None, proc: Path = Path("/proc")) -> list[int]:
    """PostgreSQL's processes now running: the postmaster and its children."""
    if postmaster is None:
        return pids_of("postgres")
    try:
        return [postmaster, *postgresql_children(postmaster, proc)]
    except OSError:
        return pids_of("postgres")


def thread_switches(pids: list[int], proc: Path = Path("/proc")) -> dict[tuple[int, int, int], int]:
    """The context switches so far, voluntary and not, of every thread of the processes `pids`,
    keyed by (process, thread, start time) so that a reused id is another thread. Each is a
    thread leaving its vCPU: to wait for a request, the database or the interpreter lock, or
    preempted. Per request, they are the server's and the database's hand-offs
    (docs/performance.md, 2026-12-05)."""
    threads = {}
    for pid in pids:
        try:
            tasks = list((proc / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                started = int(process_stat(int(task.name), proc / str(pid) / "task")[19])
                status = (task / "status").read_text()
            except (OSError, IndexError, ValueError):
                continue  # gone since the listing
            count = sum(
                int(line.split()[1])
                for line in status.splitlines()
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"))
            )
            threads[(pid, int(task.name), started)] = count
    return threads


class WindowCounters(NamedTuple):
    """What a scenario's window is measured by, read at its start and at its end."""

    web_ticks: int  # the web workers' CPU (process_ticks)
    pg_ticks: int  # PostgreSQL's (postgresql_ticks)
    machine: MachineTicks
    web_switches: dict[tuple[int, int, int], int]  # thread_switches
    pg_switches: dict[tuple[int, int, int], int]


def window_counters(web_pids: list[int], postmaster: int | None) -> WindowCounters:
    return WindowCounters(
        web_ticks=process_ticks(web_pids),
        pg_ticks=postgresql_ticks(postmaster),
        machine=machine_ticks(),
        web_switches=thread_switches(web_pids),
        pg_switches=thread_switches(postgresql_pids(postmaster)),
    )


def switches_between(
    before: dict[tuple[int, int, int], int], after: dict[tuple[int, int, int], int]
) -> tuple[int, int]:
    """The switches in a window, from `thread_switches` at its start and end: each thread's
    growth, all of a thread's that started inside it; and how many threads of the start had
    gone by the end, whose switches in the window are lost (a backend or thread that ended)."""
    switches = sum(count - before.get(key, 0) for key, count in after.items())
    return switches, sum(1 for key in before if key not in after)


def wait_for_backends_gone(postmaster: int | None, running_before: set[int], timeout: float = 5.0) -> None:
    """Wait until the postmaster has reaped every child that was not running before (the
    backends of a client that has just exited), so that what they spend on their way out
    falls inside the window that measures them."""
    if postmaster is None:
        return
    deadline = time.monotonic() + timeout
    while left := set(postgresql_children(postmaster)) - running_before:
        if time.monotonic() > deadline:
            log(f"PostgreSQL processes {sorted(left)} still running {timeout:.0f} s after the client's exit")
            return
        time.sleep(0.01)


def reserved_huge_pages_free(proc: Path = Path("/proc")) -> int | None:
    """The kernel's reserved huge pages that no one maps yet."""
    try:
        found = re.search(r"^HugePages_Free:\s+(\d+)", (proc / "meminfo").read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def on_huge_pages(pages: dict) -> bool | None:
    """True or False where the server or the kernel could tell, else None."""
    if pages.get("status") in ("on", "off"):
        return pages["status"] == "on"
    mapped = pages.get("mapped_kb")
    return None if mapped is None else mapped > 0


def huge_pages_note(pages: dict) -> str:
    """A warning before a run on 4 kB pages, with what would put the shared memory on huge
    pages: PostgreSQL's CPU per debit is lower there, as production should run it (README;
    measured in docs/performance.md, 2026-12-04, night)."""
    if on_huge_pages(pages) is not False:
        return ""
    needed, free = pages.get("needed"), pages.get("free")
    if pages.get("setting") == "off":
        fix = "set huge_pages = try (or on), reserve the pages the server needs, and restart it"
    elif needed and free is not None and free >= needed:
        fix = f"{free} huge pages are reserved and free ({needed} needed): restart PostgreSQL to take them"
    else:
        reserve = f"sysctl -w vm.nr_hugepages={needed}" if needed else "reserve huge pages (vm.nr_hugepages)"
        fix = f"{reserve} ({free if free is not None else '?'} free now), then restart PostgreSQL"
    return (
        f"PostgreSQL's shared memory is on 4 kB pages (huge_pages = {pages.get('setting')}); its CPU per debit "
        f"is lower on huge pages, as production should run it. To measure that way: {fix} (README)"
    )


def task_groups_note(recorded: dict, local_server: bool) -> str:
    """A note before a run beside a local PostgreSQL with the kernel's automatic task groups
    on: every backend is then a group of its own against one for the web tier, and the
    closed loop's p99 measured higher that way (README; docs/performance.md, 2026-12-05,
    late night). Not a fault of the run, which measures the host as it is."""
    if not local_server or recorded.get("autogroup") != "1":
        return ""
    return (
        "the kernel's automatic task groups are on: where PostgreSQL shares the root CPU control group, each "
        "backend is a scheduling group of its own and the web tier one; without them the p99 at 8 clients "
        "measured a tenth to a fifth lower on one VM (sysctl -w kernel.sched_autogroup_enabled=0; README)"
    )


def database_host() -> str:
    """Where this process's connection reached the server, as libpq resolved it (a socket's
    directory, or a TCP host): the web workers and pgbench use the same."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection.info.host


def huge_pages_in_report(machine: dict) -> str:
    """The shared memory's pages, for runs that recorded them and could tell."""
    on = on_huge_pages(machine.get("postgresql_huge_pages") or {})
    if on is None:
        return ""
    return ", shared memory on huge pages" if on else ", shared memory on 4 kB pages"


def task_groups_in_report(machine: dict) -> str:
    """The kernel's automatic task groups, for runs that recorded them (scheduler())."""
    autogroup = (machine.get("scheduler") or {}).get("autogroup")
    return {"1": ", automatic task groups on", "0": ", automatic task groups off"}.get(autogroup, "")


def database_link(machine: dict) -> str:
    host = machine.get("database_host")
    if host is None:
        return "over TCP"  # runs recorded before the bench chose the socket
    return f"over the Unix socket in {host}" if host.startswith("/") else f"over TCP to {host}"


def http_parser_in_use(args: argparse.Namespace) -> str:
    if args.http_parser != "auto":
        return args.http_parser
    return "fast" if importlib.util.find_spec("gunicorn_h1c") else "python"


def http_parser_note(web_server: dict) -> str:
    parser = web_server.get("http_parser")
    return f", HTTP parser {parser}" if parser in ("fast", "python") else ""


def generator_cell(scenario: dict) -> str:
    # Runs before 2026-12-03T18Z did not record it.
    value = scenario.get("generator_cpu_ms_per_req")
    return f"{value:.2f}" if value is not None else "-"


def switches_cell(scenario: dict) -> str:
    # Runs before 2026-12-05T02Z did not record them.
    if "web_switches_per_req" not in scenario:
        return "-"
    return f"{scenario['web_switches_per_req']:.1f} / {scenario['pg_switches_per_req']:.1f}"


def steal_cell(window: dict) -> str:
    # Runs before 2026-12-05T03-42Z did not record it.
    value = window.get("steal_pct")
    return f"{value:.1f}%" if value is not None else "-"


def probe_cell(scenario: dict) -> str:
    probe = scenario.get("machine_probe")
    return f"{probe['python_ms']:.0f} / {probe['fdatasync_ms']:.2f}" if probe else "-"


def lean_pairs(scenarios: list[dict]) -> list[float]:
    """Platform ÷ lean for each `lean:8` followed by a `debit:8`. On a VM whose speed moves
    from minute to minute, `--scenarios lean:8,debit:8,lean:8,debit:8,lean:8,debit:8` gives
    a ratio per pair, each measured a few seconds apart, and the report their median."""
    ratios: list[float] = []
    lean = None
    for scenario in scenarios:
        if scenario["connections"] != 8:
            continue
        if scenario["name"] == "lean":
            lean = scenario
        elif scenario["name"] == "debit" and lean is not None and lean["rps"]:
            ratios.append(round(scenario["rps"] / lean["rps"], 3))
            lean = None
    return ratios


def lean_note(result: dict) -> str:
    ratio = result.get("platform_over_lean")
    if not ratio:
        return ""
    pairs = result.get("platform_over_lean_pairs") or []
    each = f" (median of {len(pairs)} pairs: {', '.join(f'{r:.0%}' for r in pairs)})" if len(pairs) > 1 else ""
    return f"Platform ÷ lean reference debit at 8 clients: **{ratio:.0%}**{each}. "


def interpreter_note(config_args: str | None = None, prefix: str | None = None) -> str:
    """A warning when the web workers' interpreter looks built without profile-guided
    optimization, as pyenv builds it by default. The production image's CPython
    (python:3.11-slim) has it, and Linux distributions build theirs with it too, though their
    configure line does not say so. Here Debian's build ran an interpreter-bound loop in 31%
    less time than pyenv's, and a debit's own Python in about 5% less (docs/performance.md,
    2026-12-04, evening)."""
    import sysconfig

    if config_args is None:
        config_args = sysconfig.get_config_var("CONFIG_ARGS") or ""
    if prefix is None:
        prefix = sys.base_prefix
    if "--enable-optimizations" in config_args or prefix == "/usr":
        return ""
    return (
        f"this interpreter ({prefix}) was built without --enable-optimizations (no PGO), unlike production's image: "
        "the web workers' Python measures a few per cent slower than it runs there. An optimized one, e.g.: "
        "make bench VENV=.venv-system PYTHON=/usr/bin/python3.11 (docs/performance.md)"
    )


def python_prefix_note(machine: dict) -> str:
    """Where the interpreter was installed, for runs that recorded it."""
    return f" ({machine['python_prefix']})" if machine.get("python_prefix") else ""


def scenario_label(scenario: dict) -> str:
    """A scenario's name in the report: a fixed rate of the mix, the hot wallet or the lean debit says so, and
    one whose rate its spec fixed (rate@1000) says at what."""
    workload = scenario.get("workload", "debit")
    label = f"rate:{workload}" if scenario["name"] == "rate" and workload != "debit" else scenario["name"]
    return f"{label}@{scenario['at']}" if scenario.get("at") else label


def targets_in_report(result: dict) -> list[str]:
    """The issue's targets as this run met them (bench/targets.py), under its table."""
    line = report_line(result, judge(result))
    return ["", line] if line else []


def write_performance_doc(result: dict) -> None:
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text() if doc.exists() else ""
    marker_start, marker_end = "<!-- bench:latest -->", "<!-- /bench:latest -->"
    m = result["machine"]
    rows = [
        "| scenario | clients / rate | req/s | p50 ms | p95 ms | p99 ms | max ms | errors by code | "
        "web CPU ms/req | PG CPU ms/req | load generator CPU ms/req | switches/req: web / PG | "
        "vCPU time the host took | probe: python ms / fdatasync ms | checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["scenarios"]:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(s["codes"].items())) or "none"
        verdict = "ok" if s["check"]["ok"] else "VOID: " + "; ".join(s["check"]["problems"])
        load = f"{s['rate']}/s open loop" if s.get("rate") else f"{s['connections']} clients"
        if s.get("rate") and m.get("rate_lead_in_s"):
            load += f" after {m['rate_lead_in_s']} s at it"
        rows.append(
            f"| {scenario_label(s)} | {load} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | "
            f"{s['p99_ms']:.2f} | {s['max_ms']:.1f} | {errors} | {s['web_cpu_ms_per_req']:.2f} | "
            f"{s['pg_cpu_ms_per_req']:.2f} | {generator_cell(s)} | {switches_cell(s)} | {steal_cell(s)} | "
            f"{probe_cell(s)} | {verdict}"
            f"{' (noisy)' if s['noisy'] else ''}"
            f"{' (a checkpoint in or just before the window)' if checkpoint_in(s) else ''} |"
        )
    pg = result["pgbench"]
    body = "\n".join(
        [
            marker_start,
            f"Run {result['started_at']} on {m['cpu']} ({m['cores']} cores{task_groups_in_report(m)}), "
            f"PostgreSQL {m['postgresql']} "
            f"(shared_buffers {m.get('postgresql_settings', {}).get('shared_buffers', '?')}, "
            f"autovacuum {m.get('postgresql_settings', {}).get('autovacuum', '?')}{huge_pages_in_report(m)}), "
            f"connected {database_link(m)}, "
            f"Python {m['python']}{python_prefix_note(m)}, "
            f"{m['web_server']['server']} {m['web_server']['workers']} workers x "
            f"{m['web_server']['threads']} threads ({m['web_server']['worker_class']}"
            f"{http_parser_note(m['web_server'])}), "
            f"{m['players']} players, "
            f"{m['duration_s']} s per scenario. "
            f"File: `bench/results/{result['file']}`.",
            "",
            *rows,
            "",
            f"Database ceiling (pgbench, the debit's SQL, 8 clients): **{pg['tps']:.0f} tx/s**, "
            f"{pg['latency_avg_ms']} ms average, PG CPU {pg['pg_cpu_ms_per_tx']} ms/tx "
            f"(probe {probe_cell(pg)}, the host took {steal_cell(pg)}){' (noisy)' if pg.get('noisy') else ''}. "
            f"HTTP ÷ database at 8 clients: **{result['http_over_db']:.0%}**. "
            f"{lean_note(result)}"
            f"On one wallet (as `hot`): **{result['pgbench_hot']['tps']:.0f} tx/s**"
            f"{' (noisy)' if result['pgbench_hot'].get('noisy') else ''}. "
            f"Statements per debit: {result['queries_per_debit']} (asserted in `wallet/tests/test_queries.py`).",
            *targets_in_report(result),
            marker_end,
        ]
    )
    if marker_start in text:
        text = re.sub(re.escape(marker_start) + r".*?" + re.escape(marker_end), body, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Latest run\n\n" + body + "\n"
    doc.write_text(text)


# --- Main ----------------------------------------------------------------------------------


def report_profile(raw: Path, started_at: str, prefix: str) -> None:
    if not raw.exists():
        log("py-spy wrote no profile (is ptrace allowed here?)")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    kept = RESULTS / f"{started_at}-{prefix}.profile.txt"
    shutil.copyfile(raw, kept)
    db_wait, frames = summarize_profile(raw)
    log(f"profile of the web workers during {prefix}: {db_wait:.0f}% of handling time waits for PostgreSQL;")
    log("the rest, the workers' own CPU (% of it on the stack / innermost):")
    for frame, inclusive, own in frames:
        log(f"  {inclusive:5.1f}% {own:5.1f}%  {frame[:110]}")
    log(f"collapsed stacks: {kept.relative_to(ROOT)} (flamegraph.pl or speedscope.app read them)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    parser.add_argument(
        "--server",
        choices=["granian", "gunicorn", "uwsgi"],
        default="granian",
        help="granian: production's start (bin/serve); gunicorn and uwsgi for comparison",
    )
    parser.add_argument("--worker-class", default="gthread", help="gunicorn's")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    parser.add_argument(
        "--http-parser",
        choices=["auto", "fast", "python"],
        default="auto",
        help="gunicorn's: fast is the C parser (gunicorn_h1c), python its own",
    )
    parser.add_argument("--database", default="casino_bench")
    parser.add_argument(
        "--scenarios",
        # rate right after debit:8, whose half it runs at: the tables grow through a run, and
        # later scenarios meet a bigger database than the one debit:8 was measured on. The
        # lean reference just before debit:8, so that the two are minutes apart.
        # rate@1000 after it: the latency target is set at half of its 2,000 debits/s, whatever
        # this machine's debit:8 gives (bench/targets.py); then the lean debit at the same rate,
        # what this machine's p99 is for a debit that is nothing but itself.
        default="debit:1,lean:8,debit:8,rate,rate@1000,rate:lean@1000,debit:32,mixed:8,rate:mixed,hot:8,rate:hot",
        help="name:clients, comma-separated; 'rate' is the fixed arrival rate run of debits (half of an earlier "
        "debit:8), 'rate:mixed', 'rate:hot' and 'rate:lean' of the mix, the hot wallet and the lean reference debit "
        "(half of an earlier mixed:8, hot:8, lean:8); "
        "'@N' fixes a rate at N/s (rate@1000, rate:mixed@800); "
        "'lean' the lean reference debit (bench/lean.py); lean:8,debit:8 repeated gives the median ratio of the pairs",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=0,
        help="fixed arrival rate of every rate scenario (default: half of its workload's 8-client rate)",
    )
    parser.add_argument(
        "--pg-setting",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a PostgreSQL setting for the bench database's connections (ALTER DATABASE ... SET; "
        "repeatable), e.g. commit_delay=200 (docs/performance.md); recorded with the run",
    )
    parser.add_argument(
        "--rate-lead-in",
        type=int,
        default=RATE_LEAD_IN_S,
        metavar="SECONDS",
        help="a fixed-rate scenario first runs this long at its rate, outside its window, so that its p99 is the "
        "rate's steady state, not the writeback of the scenario before it (0: the 1 s settle at 8 clients; "
        "--no-settle: neither)",
    )
    parser.add_argument("--no-idle-wait", action="store_true")
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="measure each scenario from its first request, right after the upkeep (how runs before 2026-12-04 ran)",
    )
    parser.add_argument(
        "--no-upkeep",
        action="store_true",
        help="no ANALYZE after the warm-up, no VACUUM between scenarios (how runs before 2026-12-02T05-21Z ran)",
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        default="",
        help="sample the web workers with py-spy during this scenario (e.g. debit:8); "
        "prints the busiest frames and keeps the collapsed stacks in bench/results/",
    )
    args = parser.parse_args(argv)
    if args.rate < 0 or args.rate_lead_in < 0:
        parser.error("--rate and --rate-lead-in take 0 or more")
    # A fixed rate's calls are signed before its window (its lead-in's before the lead-in);
    # the platform refuses a signature older than WALLET_SIGNATURE_WINDOW_SECONDS (300 s).
    if max(args.rate_lead_in, args.duration) > 240:
        parser.error("--rate-lead-in and --duration take at most 240 s: a signed call is valid for 300 s")
    pg_settings = {}
    for setting in args.pg_setting:
        name, equals, value = (part.strip() for part in setting.partition("="))
        if not equals or not re.fullmatch(r"[a-z_][a-z0-9_.]*", name):
            parser.error(f"--pg-setting takes NAME=VALUE with a PostgreSQL setting's name, not {setting!r}")
        pg_settings[name] = value
    args.pg_setting, args.pg_settings = list(pg_settings), pg_settings
    earlier: set[str] = set()
    # (spec, name, clients, workload, at): a fixed rate's workload is what follows its colon, and
    # its rate what follows an @ (0: --rate's, else half of its workload's 8-client rate).
    args.scenario_list = []
    for spec in args.scenarios.split(","):
        base, has_at, at = spec.partition("@")
        name, colon, clients = base.partition(":")
        workload = (clients or "debit") if name == "rate" else name
        if has_at and (name != "rate" or not (at.isascii() and at.isdigit()) or int(at) < 1):
            parser.error(f"{spec!r}: only a fixed rate takes @ and a rate per second (rate@1000, rate:mixed@800)")
        args.scenario_list.append((spec, name, clients, workload, int(at or 0)))
        if name == "rate":
            if workload not in RATE_WORKLOADS or (colon and not clients):
                parser.error(
                    f"{spec!r}: a fixed rate runs one of {', '.join(RATE_WORKLOADS)} "
                    "(rate, rate:mixed, rate:hot, rate:lean)"
                )
            if not has_at and not args.rate and f"{workload}:8" not in earlier:
                parser.error(f"{spec!r} runs at half of an earlier {workload}:8: put one before it, or give --rate")
        elif name not in ("debit", "mixed", "hot", "lean") or not clients.isdigit() or int(clients) < 1:
            parser.error(f"{spec!r}: a scenario is debit, mixed, hot or lean with its clients (debit:8), or a rate")
        earlier.add(spec)
    return args


def code_revision() -> dict[str, object]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    # The report and results a run writes (docs/, bench/results/) are not its code.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs", ":!bench/results")
    return {"revision": git("rev-parse", "HEAD"), "tree_dirty": bool(changed)}


def main() -> None:
    args = parse_args()

    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install {'wrk' if tool == 'wrk' else 'postgresql-client'}")
    workdir = Path(tempfile.mkdtemp(prefix="casino-bench-"))
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir()
    env = base_env(
        database=args.database,
        queue="bench",
        CONN_MAX_AGE="600",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    note = interpreter_note()
    if note:
        log(note)
    log(f"creating database {args.database}")
    fresh_database_with_django(env, args.database, settings=args.pg_settings)
    from django.db import connection

    from bench.lean import lean_check, lean_tables
    from bench.seed import seed
    from ledger.checks import postgresql_autovacuum_running

    with connection.cursor() as cursor:
        pages = postgresql_huge_pages(cursor)
        postmaster = postgresql_postmaster(cursor)
    for note in (huge_pages_note(pages), task_groups_note(scheduler(), local_server=postmaster is not None)):
        if note:
            log(note)
    log(f"seeding {args.players} players with sessions")
    seed(players=args.players, balance=10**9, hot_balance=10**13, secret=SECRET)
    with connection.cursor() as cursor:
        lean_tables(cursor, args.players)
        cursor.execute("VACUUM ANALYZE")

    platform_ = Platform(args, env, workdir)
    log(f"starting {args.server} ({args.workers} workers x {args.threads} threads) and a Celery worker on :{args.port}")
    platform_.start()
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    revision = code_revision()  # the code as loaded, before the run writes anything
    rng = random.Random(20261121)
    scenarios = []
    extra_servers: list[Platform] = []
    used_prefixes: set[str] = set()
    try:
        # Warm up: every worker process fills its caches and opens its connection.
        warm = signed_lines([debit_call("warm", i, rng.randrange(args.players)) for i in range(2_000)])
        run_wrk(args, write_requests(workdir / "warm.tsv", warm), 8, 3)
        autovacuum = postgresql_autovacuum_running(connection)
        upkeep = 0.0
        if args.no_upkeep:
            log("no upkeep (--no-upkeep): the tables keep the statistics of the seed")
        else:
            if not autovacuum:
                log("autovacuum is off on this server: the bench vacuums and analyzes before each scenario")
            upkeep = database_upkeep(vacuum=False)
        rps_at_8: dict[str, float] = {}  # of each workload, for the fixed rates after it
        for spec, name, clients, workload, at in args.scenario_list:
            prefix = f"{name}{clients or 'r'}"
            # A scenario named twice gets its own transaction ids (and so its own checks).
            prefix += f"n{len(used_prefixes)}" if prefix in used_prefixes else ""
            used_prefixes.add(prefix)
            server = platform_
            if workload == "lean":  # lean:8, or rate:lean
                if args.server == "uwsgi":
                    log(f"{spec}: not run on uwsgi (its ini names the platform's module); use gunicorn or granian")
                    continue
                warm_lean = signed_lines(scenario_calls("lean", 20_000, args.players, f"{prefix}warm", rng))
                server = lean_server(args, env, workdir, warm_lean, started=extra_servers)
            if scenarios:
                upkeep = database_upkeep(vacuum=True) if not autovacuum and not args.no_upkeep else 0.0
            idle_wait, idle = idle_or_say(prefix, args.no_idle_wait)
            probe = machine_probe(workdir)
            if name == "rate":
                rate = at or args.rate or max(50, int(rps_at_8[workload] / 2))
                if not args.no_settle:
                    settle(args, server, workdir, name, prefix, rng, rate=rate, workload=workload)
                # Signed after its lead-in, which lasts longer than most of a signature's validity.
                lines = signed_lines(scenario_calls(workload, rate * args.duration, args.players, prefix, rng))
            else:
                rate = 0
                lines = signed_lines(scenario_calls(name, wrk_calls(name, args.duration), args.players, prefix, rng))
                if not args.no_settle:
                    settle(args, server, workdir, name, prefix, rng)
            requests_file = write_requests(workdir / f"{prefix}.tsv", lines)
            with connection.cursor() as cursor:
                wal0 = wal_activity(cursor)
            start = window_counters(server.web_pids(), postmaster)
            profiler = (
                start_profiler(server, max(1, args.duration - 2), workdir / f"{prefix}.profile.txt")
                if args.profile == spec
                else None
            )
            if name == "rate":
                raw = open_loop_requests(lines)
                self_cpu0 = time.process_time()
                r = run_rate(server.port, raw, rate)
                gen_ticks = int((time.process_time() - self_cpu0) * TICK)
                lat = sorted(r.latencies_us) or [0]
                result = {
                    "requests": len(r.latencies_us),
                    "duration_us": int(r.duration_s * 1e6),
                    "socket_errors": r.socket_errors,
                    "p50_us": lat[len(lat) // 2],
                    "p95_us": lat[int(len(lat) * 0.95)],
                    "p99_us": lat[int(len(lat) * 0.99)],
                    "max_us": lat[-1],
                    "statuses": dict(r.statuses),
                    "codes": dict(r.codes),
                    "replayed": r.replayed,
                    "booking_nothing": r.booking_nothing,
                    "exhausted": 0,
                    "late_starts": r.late_starts,
                }
                connections = RATE_CONNECTIONS
            else:
                connections = int(clients)
                result, gen_ticks = run_wrk(args, requests_file, connections, args.duration, port=server.port)
            if profiler is not None:
                profiler.wait(timeout=60)
                report_profile(workdir / f"{prefix}.profile.txt", started_at, prefix)
            end = window_counters(server.web_pids(), postmaster)
            web_ticks, pg_ticks = end.web_ticks - start.web_ticks, end.pg_ticks - start.pg_ticks
            (web_switches, web_gone), (pg_switches, pg_gone) = (
                switches_between(start.web_switches, end.web_switches),
                switches_between(start.pg_switches, end.pg_switches),
            )
            with connection.cursor() as cursor:
                wal1 = wal_activity(cursor)
            requests_done = max(1, result["requests"])
            noisy = not idle or noisy_window(
                end.machine.busy - start.machine.busy,
                end.machine.total - start.machine.total,
                web_ticks + pg_ticks + gen_ticks,
            )
            accepted_new = (
                int(result["statuses"].get("200", result["statuses"].get(200, 0)))
                - result["replayed"]
                - int(result.get("booking_nothing", 0))
            )
            in_flight = connections + int(result["socket_errors"])
            if server is platform_:
                check = check_run(prefix, accepted_new, in_flight=in_flight)
            else:
                server.stop()
                with connection.cursor() as cursor:
                    check = lean_check(cursor, prefix, accepted_new, in_flight, resent=int(result["exhausted"]))
            rps = result["requests"] / (result["duration_us"] / 1e6)
            if name in RATE_WORKLOADS and clients == "8":
                rps_at_8[name] = rps
            scenario = {
                "name": name,
                **({"workload": workload} if name == "rate" else {}),
                **({"at": at} if at else {}),  # its rate fixed by its spec (rate@1000)
                "connections": connections,
                "rate": rate,
                "rps": round(rps, 1),
                "requests": result["requests"],
                "p50_ms": result["p50_us"] / 1000,
                "p95_ms": result["p95_us"] / 1000,
                "p99_ms": result["p99_us"] / 1000,
                "max_ms": result["max_us"] / 1000,
                "statuses": result["statuses"],
                "codes": result["codes"],
                "socket_errors": result["socket_errors"],
                "replayed": result["replayed"],
                "exhausted": result["exhausted"],
                "web_cpu_ms_per_req": round(web_ticks / TICK * 1000 / requests_done, 3),
                "pg_cpu_ms_per_req": round(pg_ticks / TICK * 1000 / requests_done, 3),
                # Threads leaving their vCPU per request (thread_switches); the threads that ended
                # inside the window, whose switches in it are not counted.
                "web_switches_per_req": round(web_switches / requests_done, 2),
                "pg_switches_per_req": round(pg_switches / requests_done, 2),
                "switch_threads_gone": {"web": web_gone, "postgresql": pg_gone},
                # The load generator's own CPU, on the same cores as the platform.
                "generator_cpu_ms_per_req": round(gen_ticks / TICK * 1000 / requests_done, 3),
                "idle_wait_s": idle_wait,
                "idle_before": idle,  # False: still busy after IDLE_WAIT_S, and so noisy
                # Seconds of ANALYZE / VACUUM before it (database_upkeep), outside the measurement.
                "upkeep_s": upkeep,
                "machine_probe": probe,
                # The host's share of the vCPUs in the window (machine_ticks).
                "steal_pct": steal_pct(start.machine, end.machine),
                "noisy": bool(noisy),
                "check": check,
                # The server's WAL and checkpoints during the window (wal_activity).
                **wal_window(wal0, wal1, requests_done),
            }
            if "late_starts" in result:
                scenario["generator_late_starts"] = result["late_starts"]
            scenarios.append(scenario)
            log(
                f"{prefix}: {rps:.0f} req/s, p50 {scenario['p50_ms']:.2f} ms, p99 {scenario['p99_ms']:.2f} ms, "
                f"errors {result['codes'] or 'none'}, checks {'ok' if check['ok'] else check['problems']}, "
                f"CPU ms/req web {scenario['web_cpu_ms_per_req']:.3f}, PostgreSQL {scenario['pg_cpu_ms_per_req']:.3f}, "
                f"generator {scenario['generator_cpu_ms_per_req']:.3f}, "
                f"switches/req web {scenario['web_switches_per_req']:.1f}, "
                f"PostgreSQL {scenario['pg_switches_per_req']:.1f}, "
                f"WAL {scenario['wal_kb_per_req']:.1f} KB/req ({scenario['wal_fpi_per_req']:.2f} full pages)"
                f"{', a checkpoint in or just before the window' if checkpoint_in(scenario) else ''}"
                f", the host took {scenario['steal_pct']:.1f}% of the vCPUs"
                f"{', NOISY' if noisy else ''} (probe: python {probe['python_ms']} ms, "
                f"fdatasync {probe['fdatasync_ms']} ms)"
            )
    finally:
        for server in (*extra_servers, platform_):
            server.stop()

    log("pgbench: the same debit SQL against the database alone")
    pg = run_pgbench(args, connection.settings_dict, workdir, args.players, postmaster)
    pg_hot = run_pgbench(args, connection.settings_dict, workdir, 1, postmaster)
    log(
        f"pgbench: {pg['tps']:.0f} tx/s over {args.players} wallets{', NOISY' if pg['noisy'] else ''}, "
        f"{pg_hot['tps']:.0f} tx/s on one{', NOISY' if pg_hot['noisy'] else ''}"
    )
    debit8 = next((s for s in scenarios if s["name"] == "debit" and s["connections"] == 8), None)
    lean8 = next((s for s in scenarios if s["name"] == "lean" and s["connections"] == 8), None)
    result = {
        "started_at": started_at,
        "file": f"{started_at}.json",
        # Which code ran: the commit, and whether the working tree differed from it.
        **revision,
        "machine": machine_info(args),
        "scenarios": scenarios,
        "pgbench": pg,
        "pgbench_hot": pg_hot,
        "queries_per_debit": count_debit_queries(),
        "http_over_db": (debit8["rps"] / pg["tps"]) if debit8 and pg["tps"] else 0.0,
        # The platform's debit against the lean reference (bench/lean.py) at the same 8 clients:
        # the median over lean:8,debit:8 pairs, else the first of each.
        "platform_over_lean": (
            statistics.median(pairs)
            if (pairs := lean_pairs(scenarios))
            else (debit8["rps"] / lean8["rps"])
            if debit8 and lean8 and lean8["rps"]
            else None
        ),
        "platform_over_lean_pairs": pairs,
        "void": any(not s["check"]["ok"] for s in scenarios),
    }
    # The five targets (bench/targets.py), judged on this run and kept with it.
    result["queries_per_debit_asserted"] = asserted_debit_queries()
    verdicts = judge(result)
    result["targets"] = [{"target": v.target, "met": v.met, "figure": v.figure} for v in verdicts]
    for line in describe(result, verdicts):
        log(f"target {line}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / result["file"]).write_text(json.dumps(result, indent=2, default=str))
    write_performance_doc(result)
    log(f"results: bench/results/{result['file']}; table: docs/performance.md")
    if result["void"]:
        raise SystemExit("VOID: a run failed its checks (see the table)")


if __name__ == "__main__":
    main()
