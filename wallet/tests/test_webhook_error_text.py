"""What a payment system's receiver answers is stored fit for a text column: an error body
carrying a NUL, which PostgreSQL refuses in text, made the write of the failed attempt fail,
and the event stayed `sending`, re-sent at every lease's end, unflagged and unexplained."""

from wallet.models import WithdrawalEvent
from wallet.services.webhooks import withdrawal_event_deliver
from wallet.tests.test_withdrawal_events import events, receiver, sandbox, webhook, withdraw

__all__ = ["receiver", "sandbox", "webhook"]


def test_an_error_body_with_a_nul_is_a_retry_with_its_reason(sandbox, webhook, receiver):
    withdraw(500, "po-nul")
    event = events()[0]
    receiver.fail_with, receiver.fail_body = 500, b"err\x00or"
    assert withdrawal_event_deliver(event_id=event.pk) == "retry"
    event = WithdrawalEvent.objects.get(pk=event.pk)
    assert (event.delivery, event.last_http_status, event.last_error) == ("pending", 500, "err\ufffdor")
    assert event.next_attempt_at is not None and event.lease_until is None
