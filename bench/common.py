"""What both benchmarks share: a fresh database with Django set up on it, the environment
the platform's processes get, Celery's command line and a stop that leaves nothing behind."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
# The local server over its Unix socket where it has one (Debian's directory) and lets us in
# there, as a platform beside its database would connect: a statement's round trip costs less
# CPU on both ends than over TCP on loopback (docs/performance.md). Else TCP on loopback.
# BENCH_ADMIN_DATABASE_URL chooses otherwise.
LOCAL_SOCKET_DIRECTORY = "/var/run/postgresql"
TCP_ADMIN_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def _local_admin_database_url() -> str:
    socket_url = f"postgres://postgres@{quote(LOCAL_SOCKET_DIRECTORY, safe='')}:5432/postgres"
    if not Path(LOCAL_SOCKET_DIRECTORY, ".s.PGSQL.5432").exists():
        return TCP_ADMIN_DATABASE_URL
    import psycopg

    try:
        # Debian's stock pg_hba.conf lets only the OS user postgres in as postgres over the
        # socket (peer), where TCP may trust: the bench then stays on TCP.
        psycopg.connect(socket_url, connect_timeout=3).close()
    except psycopg.Error:
        return TCP_ADMIN_DATABASE_URL
    return socket_url


ADMIN_DATABASE_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL") or _local_admin_database_url()
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


# Clock ticks per second: the unit of a process's CPU in /proc/<pid>/stat.
TICK = os.sysconf("SC_CLK_TCK")


def process_ticks(pids: list[int]) -> int:
    """The CPU (user and system, in ticks) the processes `pids` have spent so far; one that
    has gone counts nothing."""
    total = 0
    for pid in pids:
        try:
            parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(parts[11]) + int(parts[12])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def log(tag: str, message: str) -> None:
    print(f"[{tag}] {message}", flush=True)


def base_env(*, database: str, queue: str, **extra: str) -> dict[str, str]:
    """The environment of the benchmark and the processes it starts: production settings on
    the throwaway database, Redis as the broker (whatever a local .env says), its own queues."""
    return {
        **os.environ,
        "DATABASE_URL": ADMIN_DATABASE_URL.rsplit("/", 1)[0] + "/" + database,
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_LONG_TASK_QUEUE": f"{queue}-long",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "casino_platform.settings",
        **extra,
    }


def fresh_database_with_django(env: dict[str, str], database: str, settings: dict[str, str] | None = None) -> None:
    """Drop and create `database`, point this process at it (`env`), set Django up, migrate.
    `settings` are PostgreSQL settings for every later connection to that database only
    (ALTER DATABASE ... SET): the server's own configuration stays as it is."""
    import psycopg
    from psycopg import sql

    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
        for name, value in (settings or {}).items():
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(database), sql.Identifier(name), sql.Literal(value)
                )
            )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def celery_command(role: str, *options: str) -> list[str]:
    """`celery -A casino_platform <role> …` with this interpreter, quiet."""
    return [sys.executable, "-m", "celery", "-A", "casino_platform", role, "--loglevel=WARNING", *options]


def stop(procs: list[subprocess.Popen], timeout: float = 15) -> None:
    """SIGTERM every process, then SIGKILL any still there after `timeout`."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
