"""`make bench-pg`: the instructions a debit costs PostgreSQL, counted instead of timed.

The debit's one statement (a call of the platform's debit function, or `--function`,
prepared as the platform's connections prepare it) runs in a single-user PostgreSQL backend (`postgres --single`) under
valgrind's callgrind, on a copy of a database seeded as `make bench-front` seeds it, one
debit per transaction, each committed. The count is the backend's own work for the whole
debit: the function's statements, the triggers and foreign-key checks at commit, index
inserts, WAL records, the commit (the kernel's time in the WAL flush is not counted).

Two runs, of `--base` debits and of `--base` + `--debits`, each on a fresh copy of the
same data directory; the difference between their counts over `--debits` is the cost of
one debit, with the backend's start-up cancelled out. The same code gives the same count to
within 0.1%, where timing on this VM moves threefold from one hour to the next, so a change
to the wallet's SQL or schema is judged by this before any HTTP run. `--annotate` prints
the functions of PostgreSQL that cost the most, inclusive, from the larger run.

Needs valgrind and PostgreSQL's server binaries (initdb, postgres, pg_ctl) of the running
server's major version; run as root, it runs them as the `postgres` user."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ADMIN_DATABASE_URL, base_env, fresh_database_with_django, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=2_000)
    parser.add_argument("--debits", type=int, default=500, help="debits counted (the difference of the two runs)")
    parser.add_argument("--base", type=int, default=100, help="debits of the smaller run, which cancels start-up")
    parser.add_argument(
        "--warmup", type=int, default=5, help="debits per session taken before ANALYZE, so that tables have grown"
    )
    parser.add_argument(
        "--function", help="the debit function to call (default: the platform's; any with the debit's parameters)"
    )
    parser.add_argument("--database", default="casino_bench_pg")
    parser.add_argument("--annotate", action="store_true", help="print PostgreSQL's costliest functions")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (callgrind files, scripts)")
    parser.add_argument(
        "--setup-sql", type=Path, help="an SQL file run on the copied database first: a change counted before it ships"
    )
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("bench-pg needs valgrind: apt-get install valgrind")
    if args.players < args.base + args.debits:
        raise SystemExit("--players must be at least --base + --debits: each debit plays its own session")

    env = base_env(database=args.database, queue="bench-pg")
    log("bench-pg", f"creating database {args.database}, seeding {args.players} players")
    fresh_database_with_django(env, args.database)
    from bench.run import SECRET
    from bench.seed import seed

    seed(players=args.players, balance=10**9, hot_balance=10**13, secret=SECRET)
    from wallet.services.debits import DEBIT_FUNCTION

    debits = DebitCalls(args.function or DEBIT_FUNCTION, sessions=args.base + args.debits)
    calls = [debits.prepare(), *debits.executions("pg")]
    warmup = [debits.prepare()] + [line for n in range(args.warmup) for line in debits.executions(f"pg-warmup{n}")]
    bindir = server_bindir()
    scratch = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        hand_to_server_user(scratch)
        template = scratch / "template"
        log("bench-pg", f"copying the database into a scratch cluster ({bindir})")
        warmup_script = scratch / "warmup.sql"
        warmup_script.write_text("\n".join(warmup) + "\n")
        setup = None
        if args.setup_sql:
            setup = scratch / "setup.sql"
            shutil.copy(args.setup_sql, setup)
        scratch_cluster(bindir, template, env["DATABASE_URL"], args.database, warmup_script, setup)
        counts = []
        for n in (args.base, args.base + args.debits):
            script = scratch / f"calls-{n}.sql"
            script.write_text("\n".join(calls[: n + 1]) + "\n")  # PREPARE, then n debits
            log("bench-pg", f"{n} debits in a single-user backend under callgrind")
            counts.append(count_run(bindir, template, scratch / f"run-{n}", args.database, script, n))
        per_debit = (counts[1] - counts[0]) / args.debits
        log(
            "bench-pg",
            f"instructions per debit in PostgreSQL: {per_debit:,.0f} ({debits.function}, {args.debits} debits counted)",
        )
        if args.annotate:
            annotate(scratch / f"run-{args.base + args.debits}.callgrind")
    finally:
        if args.keep:
            log("bench-pg", f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


class DebitCalls:
    """The debit's statement as SQL text: PREPARE of `function` with the platform's call, and
    EXECUTEs of it, one per seeded session, with new transaction and round ids under each
    prefix, the clock a second after that session was last seen (so no session slides and
    none has expired), and the clearing account known, as a warm web worker passes it."""

    def __init__(self, function: str, *, sessions: int):
        from django.db import connection

        from ledger.models import Account
        from ledger.services import ledger_account_get_or_create, provider_clearing_key
        from provider.models import Provider

        self.function = function
        self.provider = Provider.objects.order_by("id").first()
        assert self.provider is not None, "the seed registers the provider"
        # The provider's clearing account, which its first debit ever creates; here it
        # exists, as in a platform that has taken bets.
        clearing_key = provider_clearing_key(provider_code=self.provider.code, currency="EUR")
        self.clearing_id = ledger_account_get_or_create(
            key=clearing_key, kind=Account.Kind.PROVIDER_CLEARING, currency="EUR"
        ).pk
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.token_hash, g.game_id, (s.last_seen_at + interval '1 second')::text"
                " FROM game_sessions_gamesession s JOIN provider_game g ON g.id = s.game_id"
                " WHERE s.provider_id = %s ORDER BY s.id LIMIT %s",
                [self.provider.pk, sessions],
            )
            self.sessions = cursor.fetchall()
        if len(self.sessions) < sessions:
            raise SystemExit(f"only {len(self.sessions)} sessions seeded, {sessions} needed")

    # One statement a line, each ended: the single-user backend ends a statement at the
    # newline, psql at the ";".
    def prepare(self) -> str:
        from wallet.services.common import function_call_sql
        from wallet.services.debits import DEBIT_PARAMETER_TYPES

        numbered = iter(range(1, 100))
        call = function_call_sql(self.function, *DEBIT_PARAMETER_TYPES)  # as wallet/services/debits.py calls it
        return f"PREPARE debit AS {re.sub(r'%s', lambda _: f'${next(numbered)}', call)};"

    def executions(self, prefix: str) -> list[str]:
        lines = []
        for n, (token_hash, game_id, now) in enumerate(self.sessions):
            values = [
                self.provider.code, self.provider.pk, f"{prefix}-tx-{n}", "debit", "f" * 64, token_hash, None,
                f"{prefix}-round-{n}", game_id, 250, "EUR", "bet", False, f"{prefix}-{n:08d}", now, False,
                self.clearing_id, 1800,
            ]  # fmt: skip
            lines.append(f"EXECUTE debit({', '.join(sql_literal(v) for v in values)});")
        return lines


def sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def server_bindir() -> Path:
    """The server binaries of the running server's major version."""
    import psycopg

    with psycopg.connect(ADMIN_DATABASE_URL) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10_000
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin")):
        if (candidate / "postgres").exists():
            return candidate
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise SystemExit(f"no PostgreSQL {major} server binaries (postgres, initdb, pg_ctl) found")


def hand_to_server_user(path: Path) -> None:
    """Run as root, the server runs as `postgres` (as_server_user), which must own this."""
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres")


def as_server_user(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def scratch_cluster(
    bindir: Path, datadir: Path, database_url: str, database: str, warmup: Path, setup: Path | None
) -> None:
    """A new cluster in `datadir` holding a copy of `database` that has taken the debits of
    `warmup` and been analyzed after them, stopped. Analyzed on near-empty tables, the
    function's cached plans scan them sequentially as they grow (docs/performance.md,
    "statistics and vacuum"), and the count per debit grew with the run's length: 1.97M
    instructions over 100 debits, 2.55M over 500, where with tables grown first it is the same."""
    dump = datadir.parent / "seed.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), database_url], check=True)
    hand_to_server_user(dump)
    as_server_user([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust"])
    socket_dir = str(datadir.parent)
    options = f"-c listen_addresses='' -k {socket_dir} -c autovacuum=off"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(datadir)]
    as_server_user([*pg_ctl, "-o", options, "-l", str(datadir / "log"), "-w", "start"])
    try:
        psql = ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", socket_dir, "-U", "postgres"]
        as_server_user([*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{database}"'])
        as_server_user(["pg_restore", "-h", socket_dir, "-U", "postgres", "-d", database, str(dump)])
        if setup is not None:
            as_server_user([*psql, "-d", database, "-f", str(setup)])
        as_server_user([*psql, "-d", database, "-f", str(warmup)])
        # The statistics of tables in use, as bench/run.py's upkeep gives the web workers' plans.
        as_server_user([*psql, "-d", database, "-c", "VACUUM ANALYZE"])
    finally:
        as_server_user([*pg_ctl, "-w", "stop"])


def count_run(bindir: Path, template: Path, datadir: Path, database: str, script: Path, debits: int) -> int:
    """Instructions of one single-user backend running `script` on a fresh copy of `template`."""
    as_server_user(["cp", "-a", str(template), str(datadir)])
    out = datadir.parent / f"{datadir.name}.callgrind"
    command = [
        *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
        *(str(bindir / "postgres"), "--single", "-D", str(datadir), "-c", "autovacuum=off", database),
    ]
    with script.open() as stdin:
        done = as_server_user(command, stdin=stdin)
    accepted = done.stdout.count('"status": 200')
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if accepted != debits or collected is None:
        raise SystemExit(f"{accepted} of {debits} debits accepted; the count is not a debit's:\n{done.stdout[-3000:]}")
    as_server_user(["rm", "-rf", str(datadir)])
    return int(collected.group(1))


def annotate(callgrind_file: Path) -> None:
    done = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", str(callgrind_file)], capture_output=True, text=True, check=True
    )
    wanted = (
        "ExecutorStart", "ExecutorEnd", "AfterTriggerSetState", "AfterTriggerFireDeferred", "RI_FKey_check_ins",
        "plpgsql_exec_trigger", "ExecInsertIndexTuples", "ExecConstraints", "CommitTransactionCommand",
        "ExecInitIndexScan", "ExecInitModifyTable", "XLogInsert", "heap_insert", "heap_update",
    )  # fmt: skip
    print("inclusive share of the whole run (start-up included) of the functions a debit spends in:")
    for line in done.stdout.splitlines():
        name = re.search(r":(\w+) \[", line)
        if name and name.group(1) in wanted:
            print("  " + re.sub(r"\s*\[.*\]$", "", line.replace("???:", "")))


if __name__ == "__main__":
    main()
