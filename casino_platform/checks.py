"""Deploy checks (`manage.py check --deploy`) of the production settings. They read the
settings when run, never at import: `make lint` loads the settings with only a SECRET_KEY,
and `make run` (DEBUG on) is meant to run on the embedded default they refuse."""

import sys
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error, Tags, Warning, register


def refuse_to_start_on_errors(what: str) -> None:
    """Stop a process that would serve (the web server's workers, a Celery worker) on a system
    check's error, as Django stops every manage.py command: the server and the workers run no
    checks of their own (Celery runs them and throws the result away). Warnings and the
    deploy checks are `manage.py check --deploy`'s. SystemExit: Celery's signals swallow
    any Exception their receivers raise."""
    errors = [message for message in checks.run_checks() if message.is_serious() and not message.is_silenced()]
    if errors:
        lines = "\n".join(str(error) for error in errors)
        print(f"The {what} will not start: system check errors:\n{lines}", file=sys.stderr)
        raise SystemExit(1)


@register(Tags.security, deploy=True)
def production_services_configured(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Without DATABASE_URL and REDIS_URL the settings fall back to `make run`'s embedded
    default: the money in one SQLite file on one machine's disk, tasks in a folder that a worker
    elsewhere never reads, and the providers' rate limits counted by each process apart."""
    if settings.DEBUG:
        return []
    messages: list[CheckMessage] = []
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        messages.append(
            Error(
                "The database is the embedded SQLite file in VAR_DIR: DATABASE_URL is not set.",
                hint="Set DATABASE_URL to the PostgreSQL database (postgres://user:password@host:5432/casino).",
                id="casino_platform.E001",
            )
        )
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        messages.append(
            Error(
                "Celery's broker is a folder in VAR_DIR: neither REDIS_URL nor CELERY_BROKER_URL is set.",
                hint="Set REDIS_URL (or CELERY_BROKER_URL) to Redis, which every process and worker shares.",
                id="casino_platform.E002",
            )
        )
    if settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache":
        messages.append(
            Error(
                "The cache is each process's own memory (REDIS_URL is not set): every process counts the "
                "providers' rate limits apart.",
                hint="Set REDIS_URL to Redis, which every process shares.",
                id="casino_platform.E003",
            )
        )
    return messages


@register(Tags.security, deploy=True)
def metrics_token_set(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """An open /metrics tells anyone who reaches it the withdrawals pending and their amounts,
    and costs the database a dozen queries per request."""
    if settings.DEBUG or settings.METRICS_TOKEN:
        return []
    return [
        Warning(
            "METRICS_TOKEN is not set: GET /metrics, with the pending withdrawals and the money they hold, "
            "is open to anyone who can reach the server.",
            hint="Set METRICS_TOKEN and give Prometheus the same as its bearer token.",
            id="casino_platform.W001",
        )
    ]


@register(Tags.security, deploy=True)
def staff_second_factor_on(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """With STAFF_SECOND_FACTOR off, a password is all it takes to move players' money in the
    back office: right only behind a single sign-on that asks its own second factor."""
    if settings.DEBUG or settings.STAFF_SECOND_FACTOR:
        return []
    return [
        Warning(
            "STAFF_SECOND_FACTOR is off: the back office, which moves players' money, takes a password alone.",
            hint="Unset it (on by default), unless the back office is reached only through a single sign-on that "
            "asks its own second factor.",
            id="casino_platform.W002",
        )
    ]


SET_UP_HOURS_MAX = 10 * 366 * 24


@register(Tags.security)
def staff_second_factor_set_up_time(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Under an hour, a reset would leave a member of staff no time to sign in and set up the
    app it is for; past ten years the time is no bound (and past the calendar, a 500)."""
    hours = settings.STAFF_SECOND_FACTOR_SET_UP_HOURS
    if not settings.STAFF_SECOND_FACTOR or 1 <= hours <= SET_UP_HOURS_MAX:
        return []
    return [
        Error(
            f"STAFF_SECOND_FACTOR_SET_UP_HOURS ({hours}) is not 1 to {SET_UP_HOURS_MAX} (ten years): under an hour, "
            "staff could not set up their authenticator app, even after a reset; over, a password learnt any time "
            "would do.",
            hint="Set it to how long new or reset staff have to sign in and set up their app, e.g. 72.",
            id="casino_platform.E004",
        )
    ]
