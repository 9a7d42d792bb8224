"""The long tasks go to a queue of their own, so that a worker busy with an hour's reconcile
does not hold up partners' deliveries behind it; checked on the real broker (Redis), whose
queues are lists under their names, and against the files that start the workers."""

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from casino_platform.celery import app

ROOT = Path(settings.BASE_DIR)
LONG_TASKS = {"ledger.tasks.ledger_reconcile_task", "wallet.tasks.monitoring_reread_task"}
# Long-limited only for the day's read after an outage: it runs every minute and expires after
# one, so on the long queue, behind a reconcile, each of its runs would be thrown away.
EVERY_MINUTE = {"wallet.tasks.monitoring_sweep_task"}


def test_every_task_with_the_long_limit_but_the_minute_s_sweep_goes_to_the_long_queue():
    app.loader.import_default_modules()
    long_limited = {
        name
        for name, task in app.tasks.items()
        if getattr(task, "soft_time_limit", None) == settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS
    }
    assert long_limited == LONG_TASKS | EVERY_MINUTE
    assert set(settings.CELERY_TASK_ROUTES) == LONG_TASKS
    for name in app.tasks:
        queue = app.amqp.router.route({}, name)["queue"].name
        expected = settings.CELERY_LONG_TASK_QUEUE if name in LONG_TASKS else settings.CELERY_TASK_DEFAULT_QUEUE
        assert queue == expected, name


@pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="Redis's lists")
def test_a_long_task_is_queued_on_the_long_queue_and_a_quick_one_on_the_default():
    app.loader.import_default_modules()
    # The platform's app and broker, named: not whichever app is current.
    with app.connection_for_write(settings.CELERY_BROKER_URL) as connection, connection.Producer() as producer:
        client = connection.default_channel.client
        queues = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_LONG_TASK_QUEUE)
        client.delete(*queues)
        try:
            app.tasks["wallet.tasks.monitoring_reread_task"].apply_async(producer=producer)
            assert [client.llen(queue) for queue in queues] == [0, 1]
            app.tasks["players.tasks.rg_limits_apply_due_task"].apply_async(producer=producer)
            assert [client.llen(queue) for queue in queues] == [1, 1]
        finally:
            client.delete(*queues)


def test_make_run_and_compose_start_a_worker_for_each_queue(monkeypatch):
    import importlib

    import casino_platform.settings as module

    # compose's containers leave the queues' names at the settings' defaults.
    monkeypatch.delenv("CELERY_TASK_DEFAULT_QUEUE", raising=False)
    monkeypatch.delenv("CELERY_LONG_TASK_QUEUE", raising=False)
    fresh = importlib.reload(module)
    try:
        assert (fresh.CELERY_TASK_DEFAULT_QUEUE, fresh.CELERY_LONG_TASK_QUEUE) == ("celery", "celery-long")
    finally:
        monkeypatch.undo()
        importlib.reload(module)
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert not {"CELERY_TASK_DEFAULT_QUEUE", "CELERY_LONG_TASK_QUEUE"} & set(services["worker"]["environment"])
    assert re.search(r"-Q celery$", services["worker"]["command"])
    assert re.search(r"-Q celery-long$", services["worker-long"]["command"])
    run = (ROOT / "bin" / "run").read_text()
    assert '-Q "$QUEUE"' in run and '-Q "$LONG_QUEUE"' in run
    assert "s.CELERY_TASK_DEFAULT_QUEUE, s.CELERY_LONG_TASK_QUEUE" in run
