"""`make bench-round-trip`: the CPU one statement's round trip costs the client and the server,
over TCP on loopback against over the local server's Unix socket, in alternating rounds.

Each round sends the same trivial prepared statement `--queries` times from one psycopg
connection, one after the other, and reads the CPU the client process and its server backend
spent meanwhile (getrusage, /proc/<backend>/stat): what the transport adds to every wallet
call, which is one statement. Alternating rounds let the VM's changing speed fall on both."""

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import LOCAL_SOCKET_DIRECTORY, TICK, log, process_ticks


def backend_cpu_seconds(pid: int) -> float:
    return process_ticks([pid]) / TICK


def one_round(host: str, args: argparse.Namespace) -> tuple[float, float]:
    """Client and server CPU per round trip, in µs."""
    import psycopg

    with psycopg.connect(host=host, port=args.port, user=args.user, dbname=args.dbname, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        cursor = conn.cursor()
        for _ in range(200):  # prepared from the fifth, as the platform's connections do
            cursor.execute("SELECT %s::int", (1,)).fetchone()
        before, server_before = resource.getrusage(resource.RUSAGE_SELF), backend_cpu_seconds(backend)
        for _ in range(args.queries):
            cursor.execute("SELECT %s::int", (1,)).fetchone()
        after, server_after = resource.getrusage(resource.RUSAGE_SELF), backend_cpu_seconds(backend)
    client = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / args.queries * 1e6
    return client, (server_after - server_before) / args.queries * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000, help="round trips per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per transport, alternating")
    parser.add_argument("--socket-directory", default=LOCAL_SOCKET_DIRECTORY)
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--dbname", default="postgres")
    args = parser.parse_args()
    if not Path(args.socket_directory, f".s.PGSQL.{args.port}").exists():
        raise SystemExit(f"no PostgreSQL socket in {args.socket_directory} for port {args.port} on this machine")

    totals: dict[str, list[float]] = {"tcp": [], "socket": []}
    for n in range(args.rounds):
        for name, host in (("tcp", "127.0.0.1"), ("socket", args.socket_directory)):
            started = time.perf_counter()
            client, server = one_round(host, args)
            totals[name].append(client + server)
            log(
                "bench-round-trip",
                f"round {n + 1} {name:6s}: client {client:5.1f} µs + server {server:5.1f} µs = "
                f"{client + server:5.1f} µs of CPU per round trip ({time.perf_counter() - started:.1f} s)",
            )
    tcp, unix = sorted(totals["tcp"]), sorted(totals["socket"])
    median_tcp, median_unix = tcp[len(tcp) // 2], unix[len(unix) // 2]
    log(
        "bench-round-trip",
        f"median: TCP {median_tcp:.1f} µs, Unix socket {median_unix:.1f} µs per round trip "
        f"({median_unix / median_tcp - 1:+.0%}); the socket was cheaper in "
        f"{sum(u < t for t, u in zip(totals['tcp'], totals['socket'], strict=True))} of {args.rounds} pairs",
    )


if __name__ == "__main__":
    main()
