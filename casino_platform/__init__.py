from .serving import granian_worker_stop_while_loading

granian_worker_stop_while_loading()

from .celery import app as celery_app  # noqa: E402 - after the stop handler above

__all__ = ("celery_app",)
__version__ = "0.1.0"
