"""Settings for the test suite: the production settings with the local PostgreSQL and Redis
as defaults. Real values in the environment win (CI and `make test` may set them)."""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def suite_broker_url(redis_url: str) -> str:
    """Database 15 of REDIS_URL's server: the suite's Celery messages live in their own Redis
    database, which the worker fixture flushes."""
    parts = urlsplit(redis_url)
    if parts.scheme not in ("redis", "rediss"):
        # A Unix socket's URL is written differently for Celery (kombu) than for redis-py.
        raise ImproperlyConfigured(f"Set CELERY_BROKER_URL for the tests: REDIS_URL {redis_url!r} is no redis:// URL.")
    return parts._replace(path="/15").geturl()


os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/casino")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
if "CELERY_BROKER_URL" not in os.environ:  # one given wins, whatever REDIS_URL is
    os.environ["CELERY_BROKER_URL"] = suite_broker_url(os.environ["REDIS_URL"])
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"test-{os.getpid()}")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# A fixed Fernet key for tests only; production sets its own (see .env.example).
os.environ.setdefault("PROVIDER_SECRET_KEY", "zI0pBxgk5nwLnt2Q1mG3hT6sTqf0JRM0tv8dmU1q6WA=")

from .settings import *  # noqa: E402, F403 - after the defaults above

if DATABASES["default"]["ENGINE"] == "casino_platform.postgresql":  # noqa: F405
    # The transactional tests are undone by TRUNCATE, which the ledger's tables refuse unless
    # the connection says so (ledger migration 0020); nothing else sets it.
    _options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    _options["options"] = f"{_options.get('options', '')} -c ledger.allow_truncate=on".strip()
