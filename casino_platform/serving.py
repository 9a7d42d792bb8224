"""How a web worker process starts, before anything else of the platform is imported."""

import multiprocessing
import os
import signal


def granian_worker_stop_while_loading() -> None:
    """A granian worker is forked with its server's signal handlers, which only set a flag in
    the forked copy, and installs its own only once the app is loaded: a stop sent while a
    worker was still loading (a deploy that ends a container just started) was lost, and the
    server waited out its 30 s kill timeout. Until granian installs its own, a stop ends the
    worker at once: it has taken no request yet. Called first thing in the package, since
    importing Celery and Django is most of the loading. Other servers (gunicorn, runserver)
    and Celery keep their handlers: their processes have other names."""
    if multiprocessing.current_process().name == "granian-worker":
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, lambda signum, frame: os._exit(0))
