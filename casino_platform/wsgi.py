import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino_platform.settings")
django_application = get_wsgi_application()

from wallet.api.front import WalletCallbackFront  # noqa: E402 - needs the apps loaded above

# Wallet callbacks take the lean front (wallet/api/front.py); everything else is Django's.
application = WalletCallbackFront(django_application)
