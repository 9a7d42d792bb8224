import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino_platform.settings")

app = Celery("casino_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _refuse_to_start_on_errors(**kwargs) -> None:
    from casino_platform.checks import refuse_to_start_on_errors

    refuse_to_start_on_errors("Celery worker")
