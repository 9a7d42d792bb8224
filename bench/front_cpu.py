"""`make bench-front`: the CPU a debit callback costs in the platform's own code, without a web
server: the WSGI application that granian serves (`casino_platform.wsgi`: the wallet front,
the view, the service and the database client) called in a loop in one process, one debit
after another, against a freshly seeded database.

What `make bench` reports as web CPU per debit is this plus the web server's own request
handling and what sharing the cores costs every process; the difference between the two is
what a different server could win at most. `--profile` adds cProfile's busiest functions.

`--instructions` counts instead of timing: the debits run again in a child process under
valgrind's callgrind, instrumented only while they run, and the report is the CPU
instructions the platform's code executes per debit. This VM's speed moves by a factor of
two or three from one hour to the next; the count does not (the same code gives the same
count to within 0.5%), so a change to the wallet path is judged by it before any HTTP
run."""

import argparse
import cProfile
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import base_env, fresh_database_with_django, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=2_000)
    parser.add_argument("--debits", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of --debits each; all are printed")
    parser.add_argument("--database", default="casino_bench_front")
    parser.add_argument("--profile", action="store_true", help="cProfile the last round")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions per debit under callgrind instead of timing"
    )
    parser.add_argument("--counted-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    env = base_env(database=args.database, queue="bench-front", ALLOWED_HOSTS="127.0.0.1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: the metrics stay in memory
    if args.counted_child:
        os.environ.update(env)
        import django

        django.setup()
    else:
        log("bench-front", f"creating database {args.database}, seeding {args.players} players")
        fresh_database_with_django(env, args.database)
        from bench.run import SECRET
        from bench.seed import seed

        seed(players=args.players, balance=10**9, hot_balance=10**13, secret=SECRET)
        if args.instructions:
            count_instructions(args)
            return
    from django.db import connection
    from django.test import RequestFactory

    from bench.run import debit_call, signed_lines
    from casino_platform.wsgi import application

    rng = random.Random(20261202)
    statuses: dict[str, int] = {}

    def start_response(status: str, headers: list) -> None:
        statuses[status] = statuses.get(status, 0) + 1

    factory = RequestFactory(SERVER_NAME="127.0.0.1", SERVER_PORT="8000")

    def debits(prefix: str, count: int) -> list[dict]:
        # The same environ a web server would hand over, built by Django's RequestFactory.
        calls = signed_lines([debit_call(prefix, i, rng.randrange(args.players)) for i in range(count)])
        return [
            factory.post(
                path,
                data=body,
                content_type="application/json",
                # Host as every HTTP/1.1 client sends it (wrk: the address it dials).
                headers={
                    "host": "127.0.0.1:8000",
                    "x-provider-id": "sandbox",
                    "x-timestamp": timestamp,
                    "x-signature": signature,
                },
            ).environ
            for _, path, timestamp, signature, body in calls
        ]

    # Warm up, then give the planner the statistics of tables in use (bench/run.py says why).
    run_id = uuid.uuid4().hex[:6]  # a counted child runs on a database that has seen debits
    for environ in debits(f"frontwarm{run_id}", 500):
        application(environ, start_response)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    if args.counted_child:
        environs = debits(f"counted{run_id}", args.debits)
        statuses.clear()
        callgrind_control("on")
        for environ in environs:
            application(environ, start_response)
        callgrind_control("off")
        print(f"counted {args.debits} debits, answers {statuses}", flush=True)
        return
    profiler = cProfile.Profile()
    for n in range(args.rounds):
        environs = debits(f"front{n}", args.debits)
        statuses.clear()
        profile = args.profile and n == args.rounds - 1
        if profile:
            profiler.enable()
        cpu, wall = time.process_time(), time.perf_counter()
        for environ in environs:
            application(environ, start_response)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profile:
            profiler.disable()
        log(
            "bench-front",
            f"round {n + 1}: {cpu / args.debits * 1e6:.0f} µs of CPU and {wall / args.debits * 1e6:.0f} µs "
            f"of wall time per debit (the database's time included in the wall), answers {statuses}",
        )
        if set(statuses) != {"200 OK"}:
            raise SystemExit("some debits were not accepted: the figures are not a debit's")
    if args.profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def callgrind_control(instrumentation: str) -> None:
    subprocess.run(["callgrind_control", "-i", instrumentation, str(os.getpid())], check=True, capture_output=True)


def count_instructions(args: argparse.Namespace) -> None:
    """Run the debits in a child under callgrind (on the database just seeded) and report
    instructions per debit: the child's whole count, instrumented only around its debits."""
    if not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind: apt-get install valgrind")
    rounds = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-front-"))
    for n in range(args.rounds):
        out = scratch / f"callgrind-{n}.out"
        child = [
            *("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"),
            *(sys.executable, __file__, "--counted-child", "--database", args.database),
            *("--players", str(args.players), "--debits", str(args.debits)),
        ]
        log("bench-front", f"round {n + 1}: {args.debits} debits under callgrind (a minute or more)")
        done = subprocess.run(child, capture_output=True, text=True)
        out.unlink(missing_ok=True)
        collected = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or collected is None or f"'200 OK': {args.debits}" not in done.stdout:
            raise SystemExit(f"the counted run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
        rounds.append(int(collected.group(1)) / args.debits)
        log("bench-front", f"round {n + 1}: {rounds[-1]:,.0f} instructions per debit")
    scratch.rmdir()
    log("bench-front", f"instructions per debit: {min(rounds):,.0f} to {max(rounds):,.0f} over {len(rounds)} rounds")


if __name__ == "__main__":
    main()
