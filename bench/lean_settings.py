"""Settings of the lean reference debit (bench/lean.py): the platform's own settings, with
Django's handler stripped to nothing but the URL resolver."""

from casino_platform.settings import *  # noqa: F403 - the same database, pool and DEBUG off

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.lean"
WSGI_APPLICATION = "bench.lean_wsgi.application"
