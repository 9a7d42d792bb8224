"""Withdrawal events (CASHIER_WEBHOOK_URL): one per change of a withdrawal's status, written in
the transaction that made it, POSTed signed to a receiver on loopback until it answers 2xx,
once per attempt however many workers try, and by a real Celery worker through an outage."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from casino_platform.tests.plans import reads_whole
from ledger.models import Currency
from players.errors import KycRequired
from players.models import Player
from provider.signing import sign_request
from provider.tests.conftest import Worker, wait_for
from wallet.errors import WebhookNotSet, WithdrawalNotAllowed
from wallet.models import Withdrawal, WithdrawalEvent
from wallet.services import (
    cashier_withdraw,
    wallet_withdraw,
    wallet_withdrawal_return,
    withdrawal_approve,
    withdrawal_cancel,
    withdrawal_reject,
)
from wallet.services.webhooks import (
    withdrawal_event_body,
    withdrawal_event_deliver,
    withdrawal_events_due_ids,
    withdrawal_events_send_now,
    withdrawal_events_stop_sending,
)
from wallet.tests.test_cashier import call
from wallet.tests.webhook_receiver import PATH, WebhookReceiver

SECRET = "webhook-secret"
Delivery = WithdrawalEvent.Delivery


@pytest.fixture
def receiver():
    with WebhookReceiver(secret=SECRET) as r:
        yield r


@pytest.fixture
def webhook(settings, receiver):
    settings.CASHIER_WEBHOOK_URL = receiver.url
    settings.CASHIER_WEBHOOK_SECRET = SECRET
    settings.OUTBOUND_RETRY_BASE_SECONDS = 1.0
    settings.OUTBOUND_RETRY_CAP_SECONDS = 8.0
    return receiver


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=10_000)


def withdraw(amount, reference, **kw):
    return cashier_withdraw(
        player_id="p_demo_1", currency="EUR", amount=amount, reference=reference, operator="psp", reason="x", **kw
    )


def events(reference=None):
    found = WithdrawalEvent.objects.order_by("id")
    if reference is not None:
        found = found.filter(withdrawal__reference=reference)
    return list(found)


@pytest.mark.django_db
class TestRecording:
    def test_without_a_url_they_are_kept_unsent_until_staff_send_them(
        self, sandbox, settings, receiver, django_capture_on_commit_callbacks
    ):
        settings.CASHIER_WEBHOOK_URL = ""
        with django_capture_on_commit_callbacks() as queued:
            withdraw(20_000, "po-quiet")
            withdrawal_approve(reference="po-quiet", staff="staff:eve", reason="ok")
        assert [c for c in queued if c.__qualname__.startswith("delay_after_commit")] == []  # no delivery task
        assert [(e.status, e.delivery) for e in events()] == [("pending", "unsent"), ("approved", "unsent")]
        assert withdrawal_events_due_ids() == []  # the sweep leaves them alone
        ids = [e.pk for e in events()]
        with pytest.raises(WebhookNotSet):
            withdrawal_events_send_now(ids=ids)
        assert {e.delivery for e in events()} == {"unsent"}

        # The webhook set later: the past is not sent by itself, staff send what they choose.
        settings.CASHIER_WEBHOOK_URL, settings.CASHIER_WEBHOOK_SECRET = receiver.url, SECRET
        assert withdrawal_events_due_ids() == []
        assert withdrawal_event_deliver(event_id=ids[0]) == "unsent"  # a stray task sends nothing
        assert receiver.received == [] and events()[0].attempts == 0
        assert withdrawal_events_send_now(ids=ids) == ids
        assert [withdrawal_event_deliver(event_id=pk) for pk in ids] == ["delivered", "delivered"]
        assert [r["body"]["withdrawal"]["status"] for r in receiver.accepted()] == ["pending", "approved"]

    def test_one_event_per_change_with_the_withdrawal_as_it_stood(self, sandbox, webhook, client):
        withdraw(20_000, "po-held")  # over the threshold: held
        withdrawal_approve(reference="po-held", staff="staff:eve", reason="documents checked")
        wallet_withdrawal_return(player_id="p_demo_1", reference="po-held", created_by="psp", reason="bank refused")
        withdraw(500, "po-now")  # under it: approved at once
        withdraw(600, "po-asked", review=True)
        withdrawal_cancel(player_id="p_demo_1", reference="po-asked", created_by="psp", reason="changed mind")
        withdraw(700, "po-no", review=True)
        withdrawal_reject(reference="po-no", staff="staff:eve", reason="bonus abuse")

        got = [(e.withdrawal.reference, e.status) for e in events()]
        assert got == [
            ("po-held", "pending"),
            ("po-held", "approved"),
            ("po-held", "returned"),
            ("po-now", "approved"),
            ("po-asked", "pending"),
            ("po-asked", "cancelled"),
            ("po-no", "pending"),
            ("po-no", "rejected"),
        ]
        approval = events("po-held")[1].withdrawal_state
        assert (approval["status"], approval["decision_memo"], approval["amount"]) == (
            "approved",
            "documents checked",
            20_000,
        )
        # The last event of each withdrawal is what the operator API answers now.
        for reference in ("po-held", "po-now", "po-asked", "po-no"):
            state = call(client, "GET", f"p_demo_1/withdrawals/{reference}").json()
            assert events(reference)[-1].withdrawal_state == state

    def test_a_staff_withdrawal_with_a_reference_is_an_event_too(self, sandbox, webhook):
        wallet_withdraw(
            player_id="p_demo_1", currency="EUR", amount=300, created_by="staff:a", reason="x", reference="bank-1"
        )
        assert [(e.withdrawal.reference, e.status) for e in events()] == [("bank-1", "approved")]

    def test_a_repeat_or_a_refused_step_writes_none(self, sandbox, webhook):
        withdraw(20_000, "po-r")
        withdrawal_approve(reference="po-r", staff="staff:eve", reason="ok")
        withdraw(20_000, "po-r")  # the request repeated
        assert withdrawal_approve(reference="po-r", staff="staff:bob", reason="again").replayed
        with pytest.raises(WithdrawalNotAllowed):
            withdrawal_reject(reference="po-r", staff="staff:bob", reason="no")
        assert [e.status for e in events("po-r")] == ["pending", "approved"]

    def test_a_refused_step_leaves_no_event(self, sandbox, webhook):
        """The KYC check fails after the row lock, inside the step's transaction."""
        withdraw(20_000, "po-kyc")
        Player.objects.filter(player_id="p_demo_1").update(kyc_status=Player.KycStatus.PENDING)
        with pytest.raises(KycRequired):
            withdrawal_approve(reference="po-kyc", staff="staff:eve", reason="ok")
        assert [e.status for e in events("po-kyc")] == ["pending"]
        assert Withdrawal.objects.get(reference="po-kyc").status == "pending"

    @pytest.mark.parametrize("where", ["wallet.services.withdrawals", "wallet.services.backoffice"])
    def test_an_event_is_in_the_transaction_of_its_change(self, sandbox, webhook, monkeypatch, where):
        """A failure after the event was written undoes both the change and the event: the
        payment system is never told of a change that did not happen."""
        import wallet.services.webhooks as webhooks

        if where.endswith("withdrawals"):
            withdraw(20_000, "po-tx")

        def record_then_fail(withdrawal):
            webhooks.withdrawal_event_record(withdrawal)
            assert WithdrawalEvent.objects.filter(status=withdrawal.status, withdrawal=withdrawal).exists()
            raise RuntimeError("the database went away after the event")

        monkeypatch.setattr(f"{where}.withdrawal_event_record", record_then_fail)
        with pytest.raises(RuntimeError):
            if where.endswith("withdrawals"):
                withdrawal_approve(reference="po-tx", staff="staff:eve", reason="ok")
            else:
                withdraw(500, "po-tx")
        if where.endswith("withdrawals"):
            assert Withdrawal.objects.get(reference="po-tx").status == "pending"
            assert [e.status for e in events("po-tx")] == ["pending"]
        else:
            assert not Withdrawal.objects.filter(reference="po-tx").exists()
            assert WithdrawalEvent.objects.count() == 0

    def test_delivery_is_queued_only_once_the_change_commits(
        self, sandbox, webhook, django_capture_on_commit_callbacks
    ):
        def event_tasks(callbacks):
            return [c for c in callbacks if c.__qualname__.startswith("delay_after_commit")]

        with django_capture_on_commit_callbacks() as queued:
            withdraw(20_000, "po-q")
        assert len(event_tasks(queued)) == 1  # the event's task: the broker is not asked inside the transaction
        Player.objects.filter(player_id="p_demo_1").update(kyc_status=Player.KycStatus.PENDING)
        with django_capture_on_commit_callbacks() as queued, pytest.raises(KycRequired):
            withdrawal_approve(reference="po-q", staff="staff:eve", reason="ok")
        assert event_tasks(queued) == []

    def test_a_refused_request_has_no_withdrawal_and_no_event(self, sandbox, webhook):
        with pytest.raises(KycRequired):
            cashier_withdraw(
                player_id="p_kyc_pending", currency="EUR", amount=100, reference="po-x", operator="psp", reason="x"
            )
        assert WithdrawalEvent.objects.count() == 0


@pytest.mark.django_db
class TestDelivery:
    def test_delivered_signed_with_the_contracts_scheme(self, sandbox, webhook):
        withdraw(500, "po-sig")
        event = events()[0]
        assert withdrawal_event_deliver(event_id=event.pk) == "delivered"
        (got,) = webhook.received
        assert got["signed"] and got["answered"] == 204
        headers = {k.lower(): v for k, v in got["headers"].items()}
        assert headers["x-event-id"] == str(event.pk)
        # Checked here by hand too, as a receiver would: over timestamp, method, path and bytes.
        assert headers["x-signature"] == sign_request(
            secret=SECRET, timestamp=headers["x-timestamp"], method="POST", path=PATH, body=got["raw"]
        )
        assert got["raw"] == withdrawal_event_body(event)
        body = got["body"]
        assert (body["event_id"], body["type"]) == (event.pk, "withdrawal.status_changed")
        assert body["withdrawal"]["reference"] == "po-sig" and body["withdrawal"]["status"] == "approved"
        event.refresh_from_db()
        assert (event.delivery, event.attempts, event.last_http_status) == ("delivered", 1, 204)
        assert event.delivered_at is not None and event.lease_until is None
        # Delivered is final: asked again, it sends nothing.
        assert withdrawal_event_deliver(event_id=event.pk) == "delivered"
        assert len(webhook.received) == 1

    @pytest.mark.parametrize("status", [500, 404, 401])
    def test_a_refusal_is_retried_later_with_backoff(self, sandbox, webhook, status):
        withdraw(500, "po-fail")
        event = events()[0]
        webhook.fail_with = status
        assert withdrawal_event_deliver(event_id=event.pk) == "retry"
        event.refresh_from_db()
        assert (event.delivery, event.attempts, event.last_http_status) == ("pending", 1, status)
        wait = (event.next_attempt_at - timezone.now()).total_seconds()
        assert 0.3 < wait <= 1.0  # base 1 s with jitter in [0.5, 1]
        assert withdrawal_event_deliver(event_id=event.pk) == "not_due"
        assert withdrawal_events_due_ids() == []
        webhook.fail_with = None
        WithdrawalEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        assert withdrawal_events_due_ids() == [event.pk]
        assert withdrawal_event_deliver(event_id=event.pk) == "delivered"
        assert [r["answered"] for r in webhook.received] == [status, 204]

    def test_an_unreachable_receiver_is_retried(self, sandbox, webhook, settings):
        withdraw(500, "po-down")
        event = events()[0]
        settings.CASHIER_WEBHOOK_URL = "http://127.0.0.1:9/nobody-listens"
        assert withdrawal_event_deliver(event_id=event.pk) == "retry"
        event.refresh_from_db()
        assert event.delivery == "pending" and event.last_http_status is None
        assert "ConnectionError" in event.last_error

    def test_an_error_that_is_not_the_network_s_is_retried_with_its_reason(self, sandbox, webhook, settings):
        # A timeout of 0 (before the check refused it) made every POST raise a ValueError, and
        # the event stayed `sending` with no reason, its lease cycling.
        withdraw(500, "po-bad-setting")
        event = events()[0]
        settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS = 0
        assert withdrawal_event_deliver(event_id=event.pk) == "retry"
        event.refresh_from_db()
        assert event.delivery == "pending" and "ValueError" in event.last_error

    def test_flagged_after_repeated_failures_and_still_retried(self, sandbox, webhook, settings, caplog):
        settings.OUTBOUND_FLAG_AFTER_ATTEMPTS = 3
        withdraw(500, "po-flag")
        event = events()[0]
        webhook.fail_with = 503
        for attempt in range(1, 5):
            WithdrawalEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
            assert withdrawal_event_deliver(event_id=event.pk) == "retry"
            event.refresh_from_db()
            assert (event.flagged_at is not None) == (attempt >= 3)
        assert caplog.text.count("still not delivered after") == 1
        backoff = (event.next_attempt_at - timezone.now()).total_seconds()
        assert backoff <= 8.0  # capped
        webhook.fail_with = None
        WithdrawalEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
        assert withdrawal_event_deliver(event_id=event.pk) == "delivered"
        event.refresh_from_db()
        assert event.flagged_at is None  # delivered: no longer for staff's attention

    def test_days_of_failures_keep_the_capped_backoff(self, sandbox, webhook):
        """It retries for ever: the 1,025th attempt and later must still compute a delay
        (2.0 ** 1024 overflowed a float, and the event stuck in `sending`)."""
        withdraw(500, "po-days")
        event = events()[0]
        webhook.fail_with = 500
        WithdrawalEvent.objects.filter(pk=event.pk).update(attempts=5_000)
        assert withdrawal_event_deliver(event_id=event.pk) == "retry"
        event.refresh_from_db()
        assert (event.delivery, event.attempts, event.last_http_status) == ("pending", 5_001, 500)
        assert (event.next_attempt_at - timezone.now()).total_seconds() <= 8.0

    def test_one_being_sent_is_not_sent_again_until_its_lease_runs_out(self, sandbox, webhook):
        withdraw(500, "po-lease")
        event = events()[0]
        WithdrawalEvent.objects.filter(pk=event.pk).update(
            delivery=Delivery.SENDING, attempts=1, lease_until=timezone.now() + timedelta(seconds=30)
        )
        assert withdrawal_event_deliver(event_id=event.pk) == "sending"
        assert withdrawal_events_due_ids() == []
        assert withdrawal_events_send_now(ids=[event.pk]) == []  # a worker is on it
        # The sender died: once its lease has run out the sweep hands the event on, once.
        WithdrawalEvent.objects.filter(pk=event.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        assert withdrawal_events_due_ids() == [event.pk]
        assert withdrawal_events_due_ids() == []  # queued: not again every sweep
        event.refresh_from_db()
        assert event.delivery == "pending"
        assert withdrawal_event_deliver(event_id=event.pk) == "delivered"
        event.refresh_from_db()
        assert event.attempts == 2 and len(webhook.received) == 1

    def test_the_sweep_marks_what_it_queued(self, sandbox, webhook):
        withdraw(500, "po-s1")
        withdraw(600, "po-s2")
        first = withdrawal_events_due_ids()
        assert first == [e.pk for e in events()]
        assert withdrawal_events_due_ids() == []  # queued within the lease: not again

    def test_stop_sending_leaves_them_to_the_feed(self, sandbox, webhook):
        withdraw(500, "po-gone")
        withdraw(600, "po-gone-2")
        withdraw(700, "po-gone-3")
        waiting, delivered, sending = events()
        webhook.fail_with = 410  # the receiver is gone for good
        assert withdrawal_event_deliver(event_id=waiting.pk) == "retry"
        WithdrawalEvent.objects.filter(pk=waiting.pk).update(flagged_at=timezone.now())
        webhook.fail_with = None
        assert withdrawal_event_deliver(event_id=delivered.pk) == "delivered"
        WithdrawalEvent.objects.filter(pk=sending.pk).update(
            delivery=Delivery.SENDING, lease_until=timezone.now() + timedelta(minutes=1)
        )
        assert withdrawal_events_stop_sending(ids=[waiting.pk, delivered.pk, sending.pk]) == [waiting.pk]
        waiting.refresh_from_db()
        assert (waiting.delivery, waiting.flagged_at, waiting.next_attempt_at, waiting.attempts) == (
            "unsent",
            None,
            None,
            1,
        )
        assert waiting.last_http_status == 410  # the record of what happened stays
        WithdrawalEvent.objects.filter(pk=sending.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        assert withdrawal_events_due_ids() == [sending.pk]  # the unsent one is not retried
        assert withdrawal_event_deliver(event_id=waiting.pk) == "unsent"

    def test_send_now_sends_a_delivered_one_again(self, sandbox, webhook):
        withdraw(500, "po-again")
        event = events()[0]
        withdrawal_event_deliver(event_id=event.pk)
        assert withdrawal_events_send_now(ids=[event.pk]) == [event.pk]
        assert withdrawal_event_deliver(event_id=event.pk) == "delivered"
        bodies = [r["raw"] for r in webhook.received]
        assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same event, byte for byte


@pytest.mark.concurrency
def test_parallel_deliveries_of_one_event_send_it_once(transactional_db, webhook, monkeypatch):
    """Eight workers asked to send the same event at the same moment: one sends, the row lock
    and the lease turn the others away. The one sending holds its POST until the other seven
    have answered, so they provably overlap (run in turn, each would find it delivered)."""
    from wallet.services import webhooks

    call_command("seed_sandbox", stdout=io.StringIO())
    withdraw(500, "po-race")
    (event,) = events()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    others_answered = threading.Event()
    real_post = webhooks._post

    def post_once_the_others_answered(*args, **kwargs):
        assert others_answered.wait(30), f"the others never answered while one was sending: {outcomes}"
        return real_post(*args, **kwargs)

    monkeypatch.setattr(webhooks, "_post", post_once_the_others_answered)

    def attempt() -> str:
        try:
            barrier.wait()
            outcome = withdrawal_event_deliver(event_id=event.pk)
            outcomes.append(outcome)
            if len(outcomes) == 7:
                others_answered.set()
            return outcome
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [f.result() for f in [pool.submit(attempt) for _ in range(8)]]
    assert answers.count("delivered") == 1, answers
    assert {a for a in answers if a != "delivered"} <= {"busy", "sending"}, answers  # row locked or leased
    assert len(webhook.received) == 1
    event.refresh_from_db()
    assert (event.delivery, event.attempts) == ("delivered", 1)


@pytest.mark.concurrency
@pytest.mark.slow
def test_a_real_worker_delivers_every_decision_through_an_outage(
    transactional_db, webhook, broker, tmp_path, monkeypatch
):
    """Staff decide (through the services the back office calls, called here directly) while
    the payment system is down; a Celery worker (and beat) keeps trying and, once it is back,
    every event arrives, the latest of each withdrawal being where it stands."""
    monkeypatch.setenv("CASHIER_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("CASHIER_WEBHOOK_SECRET", SECRET)
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=10_000)
    worker = Worker(tmp_path / "worker.log").start()
    try:
        withdraw(20_000, "po-w1")
        wait_for(lambda: len(webhook.accepted()) == 1, timeout=30, message="the first event")
        webhook.fail_with = 503
        withdrawal_approve(reference="po-w1", staff="staff:eve", reason="ok")
        withdraw(20_000, "po-w2")
        withdrawal_reject(reference="po-w2", staff="staff:eve", reason="no")
        wait_for(
            lambda: WithdrawalEvent.objects.filter(attempts__gte=2, delivery=Delivery.PENDING).count() == 3,
            timeout=30,
            message="each event refused at least twice",
        )
        webhook.fail_with = None
        wait_for(
            lambda: not WithdrawalEvent.objects.exclude(delivery=Delivery.DELIVERED).exists(),
            timeout=60,
            message="every event delivered after the outage",
        )
    finally:
        worker.stop()
    accepted = webhook.accepted()
    assert sorted(r["body"]["event_id"] for r in accepted) == [e.pk for e in events()]  # each once
    assert all(r["signed"] for r in webhook.received)
    latest = webhook.latest_per_withdrawal()
    assert {ref: body["withdrawal"]["status"] for ref, body in latest.items()} == {
        "po-w1": "approved",
        "po-w2": "rejected",
    }


class TestCheck:
    def test_a_url_without_a_secret_is_an_error(self, settings):
        settings.CASHIER_WEBHOOK_URL = "https://psp.example/hooks"
        settings.CASHIER_WEBHOOK_SECRET = ""
        assert "wallet.E001" in [m.id for m in run_checks()]
        settings.CASHIER_WEBHOOK_SECRET = "s"
        assert "wallet.E001" not in [m.id for m in run_checks()]

    def test_a_timeout_near_the_lease_is_an_error(self, settings):
        settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS = 20
        settings.OUTBOUND_LEASE_SECONDS = 30
        assert "wallet.E002" in [m.id for m in run_checks()]
        settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS = 5
        assert "wallet.E002" not in [m.id for m in run_checks()]

    def test_a_timeout_of_no_time_is_an_error(self, settings):
        settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS = 0
        assert "wallet.E003" in [m.id for m in run_checks()]


@pytest.mark.django_db
class TestAdmin:
    def test_the_outbox_its_page_and_send_now(self, admin_client, sandbox, webhook):
        withdraw(20_000, "po-adm")
        withdrawal_approve(reference="po-adm", staff="staff:eve", reason="ok")
        first, second = events()
        withdrawal_event_deliver(event_id=first.pk)
        r = admin_client.get(reverse("admin:wallet_withdrawalevent_changelist"))
        assert r.status_code == 200 and b"po-adm" in r.content
        r = admin_client.get(reverse("admin:wallet_withdrawalevent_changelist") + "?delivery=pending")
        assert r.status_code == 200
        page = admin_client.get(reverse("admin:wallet_withdrawalevent_change", args=[first.pk]))
        assert page.status_code == 200 and b"withdrawal.status_changed" in page.content
        assert b'name="_save"' not in page.content  # staff act through "Send now" only
        admin_client.post(reverse("admin:wallet_withdrawalevent_change", args=[second.pk]), {})
        assert WithdrawalEvent.objects.get(pk=second.pk).attempts == 0
        withdrawal_page = admin_client.get(reverse("admin:wallet_withdrawal_change", args=[first.withdrawal_id]))
        assert b"Events for the payment system (webhook and feed)" in withdrawal_page.content
        r = admin_client.post(
            reverse("admin:wallet_withdrawalevent_changelist"),
            {"action": "send_now", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )
        assert b"Queued 2 event(s)" in r.content
        assert set(WithdrawalEvent.objects.values_list("delivery", flat=True)) == {"pending"}

    def test_send_now_without_a_url_says_so_and_queues_nothing(self, admin_client, sandbox, settings):
        settings.CASHIER_WEBHOOK_URL = ""
        withdraw(500, "po-adm-quiet")
        (event,) = events()
        r = admin_client.get(reverse("admin:wallet_withdrawalevent_changelist") + "?delivery=unsent")
        assert r.status_code == 200 and b"po-adm-quiet" in r.content
        r = admin_client.post(
            reverse("admin:wallet_withdrawalevent_changelist"),
            {"action": "send_now", "_selected_action": [event.pk]},
            follow=True,
        )
        assert b"CASHIER_WEBHOOK_URL is not set" in r.content
        event.refresh_from_db()
        assert (event.delivery, event.attempts) == ("unsent", 0)

    def test_stop_sending_from_the_list(self, admin_client, sandbox, webhook):
        withdraw(500, "po-adm-stop")
        (event,) = events()
        r = admin_client.post(
            reverse("admin:wallet_withdrawalevent_changelist"),
            {"action": "stop_sending", "_selected_action": [event.pk]},
            follow=True,
        )
        assert b"Stopped sending 1 event(s)" in r.content
        event.refresh_from_db()
        assert event.delivery == "unsent"

    def test_a_large_selection_is_stopped_in_batches_each_in_the_admins_history(
        self, admin_client, admin_user, sandbox, webhook, monkeypatch
    ):
        """ "Select all" over a receiver gone for good: one statement with a bound parameter per
        event failed past PostgreSQL's 65,535 (a 500); and who silenced a payout decision's
        delivery is asked later."""
        monkeypatch.setattr("wallet.admin.EVENT_ACTION_BATCH", 2)
        for n in range(5):
            withdraw(100 + n, f"po-batch-{n}")
        delivered = events()[0]
        withdrawal_event_deliver(event_id=delivered.pk)
        r = admin_client.post(
            reverse("admin:wallet_withdrawalevent_changelist"),
            {"action": "stop_sending", "select_across": "1", "index": "0", "_selected_action": [delivered.pk]},
            follow=True,
        )
        assert b"Stopped sending 4 event(s): the feed still gives them; 1 delivered" in r.content
        assert sorted(WithdrawalEvent.objects.values_list("delivery", flat=True)) == ["delivered"] + ["unsent"] * 4
        logged = LogEntry.objects.filter(content_type__model="withdrawalevent", user=admin_user)
        assert sorted(int(pk) for pk in logged.values_list("object_id", flat=True)) == sorted(
            WithdrawalEvent.objects.filter(delivery="unsent").values_list("pk", flat=True)
        )
        assert set(logged.values_list("change_message", flat=True)) == {"Stopped sending by staff: left to the feed."}

    def test_the_events_needing_attention_are_found_by_an_index(self, admin_client, sandbox, webhook):
        withdraw(500, "po-flagged")
        WithdrawalEvent.objects.update(flagged_at=timezone.now())
        r = admin_client.get(reverse("admin:wallet_withdrawalevent_changelist"), {"flagged": "yes"})
        assert b"po-flagged" in r.content
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # as on a table too big to read whole
        plan = r.context["cl"].queryset.order_by().explain()
        assert not reads_whole(plan, "wallet_withdrawalevent"), plan


@pytest.mark.django_db
def test_metrics_show_the_undelivered_events(client, sandbox, webhook, monkeypatch):
    from casino_platform.tests.test_metrics import scrape, value

    withdraw(500, "po-m1")
    withdraw(600, "po-m2")
    withdrawal_event_deliver(event_id=events()[0].pk)
    later = timezone.now() + timedelta(seconds=120)
    monkeypatch.setattr("casino_platform.clock.now", lambda: later)
    samples = scrape(client)
    assert value(samples, "withdrawal_events_undelivered") == 1
    assert 120 <= value(samples, "withdrawal_events_oldest_age_seconds") < 130
    assert value(samples, "withdrawal_events_flagged") == 0
