import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino_platform.settings")

app = Celery("casino_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
