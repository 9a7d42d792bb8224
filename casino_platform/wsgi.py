import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino_platform.settings")
django_application = get_wsgi_application()

from casino_platform.checks import refuse_to_start_on_errors  # noqa: E402 - needs the apps loaded above

# As every manage.py command and Celery worker: a PROVIDER_SECRET_KEY that is no Fernet key
# would otherwise answer every wallet call 500.
refuse_to_start_on_errors("server")

from wallet.api.front import WalletCallbackFront  # noqa: E402 - needs the apps loaded above

# Wallet callbacks take the lean front (wallet/api/front.py); everything else is Django's.
application = WalletCallbackFront(django_application)

# What start-up made (modules, classes, settings, URL patterns: ~100,000 objects the collector
# tracks) lives as long as the worker. Frozen, it is left out of every later collection: a
# full collection of a worker took 40-50 ms with it, a pause for every thread of the process
# (docs/performance.md, 2026-12-04), and under 1 ms without it.
gc.freeze()
