import logging

from celery import shared_task
from django.conf import settings

from .services import rg_limits_apply_due

logger = logging.getLogger(__name__)


# A sweep that waited longer than its period is overtaken by the next one: let it expire.
@shared_task(ignore_result=True, expires=settings.RG_LIMIT_SWEEP_SECONDS)
def rg_limits_apply_due_task() -> int:
    applied = rg_limits_apply_due()
    if applied:
        logger.info("put %d looser responsible-gambling limit(s) in force after their cooling-off", applied)
    return applied
