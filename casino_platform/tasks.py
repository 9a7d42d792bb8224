from datetime import timedelta

from axes.models import AccessFailureLog
from celery import shared_task
from django.conf import settings
from django.contrib.sessions.models import Session

from casino_platform import clock


@shared_task(ignore_result=True)
def staff_sign_in_housekeeping_task() -> dict[str, int]:
    """Beat, nightly: delete the staff sessions that have ended (Django leaves their rows for a
    `clearsessions` nobody runs) and the sign-in failures older than STAFF_SIGN_IN_LOG_DAYS
    (kept a year by default, as PCI DSS keeps audit logs), so that neither table grows for ever."""
    now = clock.now()
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    kept_from = now - timedelta(days=settings.STAFF_SIGN_IN_LOG_DAYS)
    failures, _ = AccessFailureLog.objects.filter(attempt_time__lt=kept_from).delete()
    return {"sessions": sessions, "failures": failures}
