"""The lean reference debit's WSGI application (bench/lean.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.lean_settings"
application = get_wsgi_application()
