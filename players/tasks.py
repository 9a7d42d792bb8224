import logging

from celery import shared_task

from .services import loss_limits_apply_due

logger = logging.getLogger(__name__)


@shared_task
def loss_limits_apply_due_task() -> int:
    applied = loss_limits_apply_due()
    if applied:
        logger.info("put %d looser loss limit(s) in force after their cooling-off", applied)
    return applied
