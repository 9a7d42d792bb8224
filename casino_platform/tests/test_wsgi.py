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
