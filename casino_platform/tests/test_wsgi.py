"""The WSGI module production serves (casino_platform.wsgi), imported in a process of its own as
a web worker imports it."""

import os
import subprocess
import sys

from django.conf import settings


def test_start_up_objects_are_frozen_out_of_the_collector():
    # In a child: freezing the test process's own objects would change what it collects.
    script = "import gc\nimport casino_platform.wsgi\nprint(gc.get_freeze_count(), len(gc.get_objects()))\n"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "casino_platform.settings"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    frozen, still_tracked = int(out[0]), int(out[1])
    assert frozen > 50_000  # Django, DRF and the apps: what the worker keeps until it exits
    assert still_tracked < frozen / 10


def test_a_worker_does_not_start_on_a_system_check_error():
    """A PROVIDER_SECRET_KEY that is no Fernet key (provider.E001) stops the worker at start,
    as it stops every manage.py command, instead of answering every wallet call 500."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "casino_platform.settings", "PROVIDER_SECRET_KEY": "not-fernet"}
    started = subprocess.run(
        [sys.executable, "-c", "import casino_platform.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert started.returncode != 0
    assert "The server will not start" in started.stderr and "provider.E001" in started.stderr


def test_a_celery_worker_does_not_start_on_a_system_check_error():
    """Celery runs the checks and throws the result away: the worker's start refuses them."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "casino_platform.settings", "PROVIDER_SECRET_KEY": "not-fernet"}
    started = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "casino_platform", "worker", "--pool=solo", "-Q", "never-served"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "The Celery worker will not start" in started.stderr and "provider.E001" in started.stderr
