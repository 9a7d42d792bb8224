"""What both outboxes share: a task queued only once its row is committed, a broker that is
down logged rather than raised (the row's sweep sends it), and the retry backoff."""

import logging

import pytest
from django.db import transaction

from casino_platform.outbox import delay_after_commit, retry_delay_seconds

pytestmark = pytest.mark.django_db


class RecordingTask:
    """Stands in for a Celery task: what it was asked to queue, or the broker's refusal."""

    def __init__(self, broker_down: bool = False):
        self.queued: list[int] = []
        self.broker_down = broker_down

    def delay(self, row_id: int) -> None:
        if self.broker_down:
            raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379")
        self.queued.append(row_id)


def test_queued_after_the_commit_and_never_for_a_rollback(django_capture_on_commit_callbacks):
    task = RecordingTask()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            delay_after_commit(task, 7, what="outbound")
            assert task.queued == []  # a worker must not look for a row it cannot see yet
    assert task.queued == [7]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            delay_after_commit(task, 8, what="outbound")
            raise RuntimeError("the change failed")
    assert (callbacks, task.queued) == ([], [7])


def test_a_broker_that_is_down_is_logged_not_raised(django_capture_on_commit_callbacks, caplog):
    task = RecordingTask(broker_down=True)
    with caplog.at_level(logging.WARNING, logger="casino_platform.outbox"):
        with django_capture_on_commit_callbacks(execute=True):
            delay_after_commit(task, 41, what="withdrawal event")
    assert "could not queue withdrawal event 41; the sweep will send it" in caplog.text


def test_backoff_grows_to_its_cap_and_never_overflows(settings):
    settings.OUTBOUND_RETRY_BASE_SECONDS, settings.OUTBOUND_RETRY_CAP_SECONDS = 2, 300
    assert 1 <= retry_delay_seconds(1) <= 2
    assert 8 <= retry_delay_seconds(4) <= 16
    assert 150 <= retry_delay_seconds(20) <= 300
    assert 150 <= retry_delay_seconds(5_000) <= 300  # 2.0 ** 4999 would overflow a float
