"""`make bench-front`: the CPU a debit callback costs in the platform's own code, without a web
server: the WSGI application that granian serves (`casino_platform.wsgi`: the wallet front,
the view, the service and the database client) called in a loop in one process, one debit
after another, against a freshly seeded database.

What `make bench` reports as web CPU per debit is this plus the web server's own request
handling and what sharing the cores costs every process; the difference between the two is
what a different server could win at most. `--profile` adds cProfile's busiest functions."""

import argparse
import cProfile
import pstats
import random
import sys
import time
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
    args = parser.parse_args()

    env = base_env(database=args.database, queue="bench-front", ALLOWED_HOSTS="127.0.0.1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: the metrics stay in memory
    log("bench-front", f"creating database {args.database}, seeding {args.players} players")
    fresh_database_with_django(env, args.database)
    from django.db import connection

    from bench.run import SECRET, debit_call, signed_lines
    from bench.seed import seed

    seed(players=args.players, balance=10**9, hot_balance=10**13, secret=SECRET)
    from django.test import RequestFactory

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
                headers={"x-provider-id": "sandbox", "x-timestamp": timestamp, "x-signature": signature},
            ).environ
            for _, path, timestamp, signature, body in calls
        ]

    # Warm up, then give the planner the statistics of tables in use (bench/run.py says why).
    for environ in debits("frontwarm", 500):
        application(environ, start_response)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
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


if __name__ == "__main__":
    main()
