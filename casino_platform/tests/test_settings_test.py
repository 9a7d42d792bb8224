"""The suite's Celery broker is on the Redis that REDIS_URL names, unless CELERY_BROKER_URL
says otherwise: a REDIS_URL pointed elsewhere (bin/ensure-services, README) takes it along."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from casino_platform.settings_test import suite_broker_url


def test_the_local_default_is_database_15_of_the_local_redis():
    assert suite_broker_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/15"


def test_the_broker_is_on_redis_urls_server_with_its_credentials():
    assert suite_broker_url("redis://:pw@cache.internal:6380/3") == "redis://:pw@cache.internal:6380/15"
    assert suite_broker_url("rediss://cache.internal?ssl_cert_reqs=none") == (
        "rediss://cache.internal/15?ssl_cert_reqs=none"
    )


def test_a_socket_needs_the_broker_spelled_out():
    with pytest.raises(ImproperlyConfigured, match="Set CELERY_BROKER_URL"):
        suite_broker_url("unix:///run/redis/redis.sock?db=0")


def loaded_broker(**environ: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")} | environ
    code = "from casino_platform import settings_test as s; print(s.CELERY_BROKER_URL)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_settings_derive_the_broker_unless_one_is_given():
    assert loaded_broker() == "redis://127.0.0.1:6379/15"  # the local defaults, as before
    assert loaded_broker(REDIS_URL="redis://10.0.0.7:6390/2") == "redis://10.0.0.7:6390/15"
    given = "redis://10.0.0.8:6379/9"
    assert loaded_broker(REDIS_URL="redis://10.0.0.7:6390/2", CELERY_BROKER_URL=given) == given
