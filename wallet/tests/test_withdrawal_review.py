"""Withdrawals that wait for staff: held over the currency's threshold or when the operator
asks, approved or rejected in the admin, cancelled through the operator API, returned after a
failed payout; each step once, the money always in the journal, the books always reconciled."""

import io
import re
from datetime import timedelta
from importlib import import_module

import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import Account, Currency, Entry, IdempotencyRecord, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from ledger.selectors import ledger_cashier
from players.models import Player
from wallet.errors import WithdrawalNotAllowed, WithdrawalNotFound
from wallet.models import Withdrawal, WithdrawalEvent
from wallet.services import wallet_withdraw, wallet_withdrawal_return, withdrawal_approve, withdrawal_reject
from wallet.tests.test_admin import messages_of
from wallet.tests.test_cashier import TOKEN, balance, call

THRESHOLD = 10_000  # EUR minor units: 100.00


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=THRESHOLD)


def withdraw(client, amount, reference, player="p_demo_1", **extra):
    return call(
        client, "POST", f"{player}/withdrawals", {"currency": "EUR", "amount": amount, "reference": reference, **extra}
    )


def held(currency="EUR") -> int:
    """What the currency's withdrawals_pending account holds."""
    entries = Entry.objects.filter(account__kind=Account.Kind.WITHDRAWALS_PENDING, currency_id=currency)
    return sum(entries.values_list("amount", flat=True))


def cash_out(currency="EUR") -> int:
    return sum(
        Entry.objects.filter(account__kind=Account.Kind.CASH_OUT, currency_id=currency).values_list("amount", flat=True)
    )


pytestmark = pytest.mark.django_db


class TestRequest:
    def test_up_to_the_threshold_it_is_approved_at_once(self, client, sandbox):
        r = withdraw(client, THRESHOLD, "po-small")
        assert r.status_code == 200, r.content
        assert (r.json()["status"], r.json()["balance"]) == ("approved", 90_000)
        assert (held(), cash_out()) == (0, THRESHOLD)
        state = call(client, "GET", "p_demo_1/withdrawals/po-small").json()
        assert {k: state[k] for k in ("status", "amount", "currency", "review_reason", "decided_at")} == {
            "status": "approved",
            "amount": THRESHOLD,
            "currency": "EUR",
            "review_reason": "",
            "decided_at": None,
        }

    def test_over_the_threshold_it_waits_and_its_money_is_held(self, client, sandbox):
        r = withdraw(client, THRESHOLD + 1, "po-big")
        assert r.status_code == 200, r.content
        body = r.json()
        assert (body["status"], body["balance"]) == ("pending", 100_000 - THRESHOLD - 1)
        request = JournalTransaction.objects.get(pk=body["platform_transaction_id"])
        assert (request.kind, request.provider_transaction_id) == ("withdrawal", "po-big")
        assert (held(), cash_out()) == (THRESHOLD + 1, 0)
        state = call(client, "GET", "p_demo_1/withdrawals/po-big").json()
        assert (state["status"], state["review_reason"]) == ("pending", "over the review threshold of 100.00 EUR")
        assert ledger_reconcile().ok
        again = withdraw(client, THRESHOLD + 1, "po-big")
        assert (again.json(), again.headers["Idempotent-Replayed"]) == (body, "true")
        assert held() == THRESHOLD + 1

    def test_the_operator_may_ask_for_review_whatever_the_amount(self, client, sandbox):
        Currency.objects.filter(code="EUR").update(withdrawal_review_above=None)
        assert withdraw(client, 1, "po-first", review=True).json()["status"] == "pending"
        assert withdraw(client, 10**6 // 20, "po-any").json()["status"] == "approved"
        withdrawal = Withdrawal.objects.get(reference="po-first")
        assert withdrawal.review_reason == "asked by the operator"

    def test_a_repeat_answers_where_the_withdrawal_stands_now(self, client, sandbox):
        first = withdraw(client, 30_000, "po-again").json()
        withdrawal_reject(reference="po-again", staff="staff:eve", reason="no")
        again = withdraw(client, 30_000, "po-again")
        # Not the first answer's `pending`: a payment system must not pay a rejected withdrawal.
        assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
        assert again.json() == {**first, "status": "rejected"}
        # One written by a version before this table, during its deploy: no row, no status stored.
        WithdrawalEvent.objects.all().delete()
        Withdrawal.objects.all().delete()
        record = IdempotencyRecord.objects.get(key="po-again")
        record.response_body = {k: v for k, v in record.response_body.items() if k != "status"}
        record.save()
        old = withdraw(client, 30_000, "po-again")
        assert old.status_code == 200 and "status" not in old.json()

    def test_asking_for_review_is_part_of_what_a_repeat_must_match(self, client, sandbox):
        assert withdraw(client, 500, "po-ask").json()["status"] == "approved"
        r = withdraw(client, 500, "po-ask", review=True)
        assert (r.status_code, r.json()["code"]) == (409, "IDEMPOTENCY_MISMATCH")
        assert withdraw(client, 500, "po-ask", review=False).json()["status"] == "approved"
        assert withdraw(client, 700, "po-ask2", review=True).json()["status"] == "pending"
        assert withdraw(client, 700, "po-ask2", review=True).headers["Idempotent-Replayed"] == "true"
        assert balance() == 100_000 - 1_200

    def test_a_threshold_of_zero_holds_every_one(self, client, sandbox):
        Currency.objects.filter(code="EUR").update(withdrawal_review_above=0)
        assert withdraw(client, 1, "po-tiny").json()["status"] == "pending"

    @pytest.mark.parametrize("review", ["yes", 1, None])
    def test_review_is_a_json_boolean(self, client, sandbox, review):
        r = withdraw(client, 1, "po-bad", review=review)
        assert (r.status_code, r.json()["code"], list(r.json()["details"])) == (400, "VALIDATION_ERROR", ["review"])
        assert balance() == 100_000 and not Withdrawal.objects.exists()

    def test_a_staff_withdrawal_with_a_reference_is_recorded_approved(self, sandbox):
        wallet_withdraw(
            player_id="p_demo_1", currency="EUR", amount=50_000, created_by="staff:a", reason="x", reference="bank-9"
        )
        withdrawal = Withdrawal.objects.get(reference="bank-9")
        assert (withdrawal.status, withdrawal.requested_by, withdrawal.amount) == ("approved", "staff:a", 50_000)


class TestDecisions:
    def test_approval_lets_it_go_to_cash_out(self, client, sandbox):
        withdraw(client, 30_000, "po-ok")
        result = withdrawal_approve(reference="po-ok", staff="staff:eve", reason="documents checked")
        assert (result.status, result.balance, result.replayed) == ("approved", 70_000, False)
        approval = JournalTransaction.objects.get(pk=result.platform_transaction_id)
        assert (approval.reason, approval.memo, approval.created_by) == ("approved", "documents checked", "staff:eve")
        assert sorted(approval.entries.values_list("account__kind", "amount")) == [
            ("cash_out", 30_000),
            ("withdrawals_pending", -30_000),
        ]
        assert (held(), cash_out(), balance()) == (0, 30_000, 70_000)
        state = call(client, "GET", "p_demo_1/withdrawals/po-ok").json()
        assert (state["status"], state["decision_memo"]) == ("approved", "documents checked")
        assert withdrawal_approve(reference="po-ok", staff="staff:bob", reason="again").replayed
        with pytest.raises(WithdrawalNotAllowed) as refused:
            withdrawal_reject(reference="po-ok", staff="staff:bob", reason="changed my mind")
        assert refused.value.details == {"status": "approved"}
        assert Withdrawal.objects.get(reference="po-ok").decided_by == "staff:eve"
        assert ledger_reconcile().ok

    def test_approving_one_that_never_waited_answers_its_request(self, client, sandbox):
        request = withdraw(client, 500, "po-now").json()
        result = withdrawal_approve(reference="po-now", staff="staff:eve", reason="looks fine")
        assert (result.replayed, result.platform_transaction_id, result.status) == (
            True,
            request["platform_transaction_id"],
            "approved",
        )
        assert Withdrawal.objects.get().decided_by == ""

    def test_the_database_refuses_a_state_its_journals_do_not_explain(self, client, sandbox):
        from django.db import IntegrityError, transaction

        withdraw(client, 30_000, "po-db")
        withdrawal = Withdrawal.objects.get()
        reversal = JournalTransaction.objects.exclude(pk=withdrawal.request_journal_id).first()
        for change in (
            {"status": "approved"},  # waited, and no approval moved it to cash-out
            {"status": "returned", "reversal_journal": reversal},  # returned from cash-out it never reached
            {"status": "rejected"},  # rejected with no money put back
        ):
            with pytest.raises(IntegrityError), transaction.atomic():
                Withdrawal.objects.filter(pk=withdrawal.pk).update(**change)

    def test_an_approved_payout_that_fails_comes_back_from_cash_out(self, client, sandbox):
        withdraw(client, 30_000, "po-fail")
        withdrawal_approve(reference="po-fail", staff="staff:eve", reason="fine")
        r = call(client, "POST", "p_demo_1/withdrawals/po-fail/return", {"reason": "card expired"})
        assert (r.status_code, r.json()["status"], r.json()["balance"]) == (200, "returned", 100_000)
        assert (held(), cash_out()) == (0, 0)
        withdrawal = Withdrawal.objects.get(reference="po-fail")
        assert withdrawal.reversal_journal.reverses_id == withdrawal.request_journal_id
        assert ledger_reconcile().ok

    def test_a_returned_payout_s_page_says_who_returned_it_and_why(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-back")
        withdrawal_approve(reference="po-back", staff="staff:eve", reason="fine")
        assert (
            call(client, "POST", "p_demo_1/withdrawals/po-back/return", {"reason": "card expired"}).status_code == 200
        )
        withdrawal = Withdrawal.objects.get(reference="po-back")
        page = admin_client.get(reverse("admin:wallet_withdrawal_change", args=[withdrawal.pk])).content.decode()
        journal = withdrawal.reversal_journal
        assert f"by {journal.created_by} at {journal.created_at:%Y-%m-%d %H:%M:%S} UTC: {journal.memo}" in page
        assert "card expired" in journal.memo
        assert "staff:eve" in page  # still who approved it

    def test_rejection_puts_the_money_back(self, client, sandbox):
        withdraw(client, 30_000, "po-no")
        result = withdrawal_reject(reference="po-no", staff="staff:eve", reason="bonus abuse under review")
        assert (result.status, result.balance) == ("rejected", 100_000)
        withdrawal = Withdrawal.objects.select_related("reversal_journal").get(reference="po-no")
        assert (withdrawal.reversal_journal.reason, withdrawal.reversal_journal.reverses_id) == (
            "rejected",
            withdrawal.request_journal_id,
        )
        assert (held(), cash_out()) == (0, 0)
        for step in ("cancel", "return"):
            r = call(client, "POST", f"p_demo_1/withdrawals/po-no/{step}", {})
            assert (r.status_code, r.json()["code"], r.json()["details"]) == (
                409,
                "WITHDRAWAL_NOT_ALLOWED",
                {"status": "rejected"},
            )
        with pytest.raises(WithdrawalNotAllowed):
            withdrawal_approve(reference="po-no", staff="staff:eve", reason="oops")
        assert balance() == 100_000 and ledger_reconcile().ok

    def test_the_operator_cancels_a_pending_one_once(self, client, sandbox):
        withdraw(client, 30_000, "po-back")
        r = call(client, "POST", "p_demo_1/withdrawals/po-back/cancel", {})
        assert r.status_code == 200, r.content
        first = r.json()
        assert (first["status"], first["balance"], first["reference"]) == ("cancelled", 100_000, "po-back")
        cancellation = JournalTransaction.objects.get(pk=first["platform_transaction_id"])
        assert (cancellation.memo, cancellation.created_by) == ("cancelled by the player", "operator:sandbox")
        again = call(client, "POST", "p_demo_1/withdrawals/po-back/cancel", {"reason": "twice"})
        assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (200, first, "true")
        with pytest.raises(WithdrawalNotAllowed):
            withdrawal_approve(reference="po-back", staff="staff:eve", reason="late")
        assert (balance(), held()) == (100_000, 0)
        history = call(client, "GET", "p_demo_1/transactions?currency=EUR&limit=2").json()["results"]
        assert [(m["kind"], m["amount"], m["reason"]) for m in history] == [
            ("withdrawal", 30_000, "cancelled"),
            ("withdrawal", -30_000, "withdrawal"),
        ]

    def test_a_pending_one_is_cancelled_not_returned_and_a_paid_one_not_cancelled(self, client, sandbox):
        withdraw(client, 30_000, "po-wait")
        withdraw(client, 5_000, "po-paid")
        r = call(client, "POST", "p_demo_1/withdrawals/po-wait/return", {})
        assert (r.status_code, r.json()["details"]) == (409, {"status": "pending"})
        r = call(client, "POST", "p_demo_1/withdrawals/po-paid/cancel", {})
        assert (r.status_code, r.json()["details"]) == (409, {"status": "approved"})
        assert (balance(), held(), cash_out()) == (65_000, 30_000, 5_000)

    @pytest.mark.parametrize(
        "path, body, status, code",
        [
            ("p_demo_1/withdrawals/nothing/cancel", {}, 404, "WITHDRAWAL_NOT_FOUND"),
            ("p_demo_2/withdrawals/po-c/cancel", {}, 404, "WITHDRAWAL_NOT_FOUND"),  # another player's
            ("nobody/withdrawals/po-c/cancel", {}, 404, "PLAYER_NOT_FOUND"),
            ("p_demo_1/withdrawals/po%20c/cancel", {}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/withdrawals/po-c/cancel", {"reason": ""}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/withdrawals/po-c/cancel", {"reason": 7}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/withdrawals/po-c/cancel", {"reasn": "changed my mind"}, 400, "VALIDATION_ERROR"),
            (f"p_demo_1/withdrawals/{'x' * 129}/cancel", {}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/withdrawals/po-c/cancel", [1], 400, "VALIDATION_ERROR"),
            ("p_demo_2/withdrawals/po-c", None, 404, "WITHDRAWAL_NOT_FOUND"),
            ("p_demo_1/withdrawals/po%00c", None, 400, "VALIDATION_ERROR"),
        ],
    )
    def test_bad_input_moves_nothing(self, client, sandbox, path, body, status, code):
        withdraw(client, 30_000, "po-c")
        r = call(client, "GET" if body is None else "POST", path, body)
        assert (r.status_code, r.json()["code"]) == (status, code), r.content
        assert (balance(), held()) == (70_000, 30_000)
        assert Withdrawal.objects.get().status == "pending"

    def test_the_player_s_withdrawals_newest_first_by_status(self, client, sandbox):
        withdraw(client, 30_000, "po-l1")
        withdraw(client, 500, "po-l2")
        withdraw(client, 20_000, "po-l3")
        call(client, "POST", "p_demo_1/withdrawals/po-l3/cancel", {})
        withdraw(client, 100, "po-other", player="p_blocked_rg")
        r = call(client, "GET", "p_demo_1/withdrawals")
        assert r.status_code == 200, r.content
        assert [(w["reference"], w["status"]) for w in r.json()["results"]] == [
            ("po-l3", "cancelled"),
            ("po-l2", "approved"),
            ("po-l1", "pending"),
        ]
        pending = call(client, "GET", "p_demo_1/withdrawals?status=pending&currency=EUR").json()["results"]
        assert [w["reference"] for w in pending] == ["po-l1"]
        assert call(client, "GET", "p_demo_1/withdrawals?currency=USD").json()["results"] == []
        first = call(client, "GET", "p_demo_1/withdrawals?limit=2").json()
        assert [w["reference"] for w in first["results"]] == ["po-l3", "po-l2"]
        rest = client.get(first["next"], headers=TOKEN).json()
        assert ([w["reference"] for w in rest["results"]], rest["next"]) == (["po-l1"], None)

    @pytest.mark.parametrize(
        "query, field",
        [("status=paid", "status"), ("currency=EU", "currency"), ("currency=XXX", "currency"), ("limit=0", "limit")],
    )
    def test_a_bad_listing_query_is_a_validation_error(self, client, sandbox, query, field):
        r = call(client, "GET", f"p_demo_1/withdrawals?{query}")
        assert (r.status_code, r.json()["code"], list(r.json()["details"])) == (400, "VALIDATION_ERROR", [field])

    def test_in_the_schema(self, client):
        schema = client.get("/api/schema/?format=json").json()
        paths = schema["paths"]
        base = "/api/v1/players/{player_id}/withdrawals"
        assert "get" in paths[base + "/{reference}"] and "get" in paths[base]
        for step in ("cancel", "return"):
            assert "WITHDRAWAL_NOT_ALLOWED" in str(paths[f"{base}/{{reference}}/{step}"]["post"]["responses"]["409"])
        assert "review" in schema["components"]["schemas"]["WithdrawalInput"]["properties"]

    def test_staff_decide_by_reference_and_must_say_why(self, sandbox):
        with pytest.raises(WithdrawalNotFound):
            withdrawal_approve(reference="nothing", staff="staff:eve", reason="x")
        with pytest.raises(Exception, match="reason"):
            withdrawal_reject(reference="nothing", staff="staff:eve", reason=" ")


class TestBooks:
    def test_reconciliation_finds_a_held_amount_that_is_not_the_pending_withdrawals(self, client, sandbox):
        withdraw(client, 30_000, "po-h1")
        withdraw(client, 20_000, "po-h2")
        withdrawal_approve(reference="po-h2", staff="staff:eve", reason="fine")
        assert ledger_reconcile().ok
        Withdrawal.objects.filter(reference="po-h1").update(amount=29_999)
        report = ledger_reconcile()
        account = Account.objects.get(kind=Account.Kind.WITHDRAWALS_PENDING, currency_id="EUR")
        assert [(m.account_kind, m.currency, m.account_id, m.recorded, m.ledger) for m in report.mismatches] == [
            ("withdrawals_pending", "EUR", account.pk, 29_999, 30_000)
        ]
        out = io.StringIO()
        with pytest.raises(Exception, match="Reconciliation FAILED"):
            call_command("reconcile", stdout=out)
        assert (
            f"withdrawals_pending EUR (account {account.pk}): the ledger holds 300.00 EUR (30000), the withdrawals"
            " held add up to 299.99 EUR (29999)" in out.getvalue()
        )

    def test_the_cashier_report_counts_a_request_and_what_came_back(self, client, sandbox):
        withdraw(client, 30_000, "po-r1")
        withdraw(client, 20_000, "po-r2")
        withdraw(client, 1_000, "po-r3")
        withdrawal_approve(reference="po-r1", staff="staff:eve", reason="fine")
        withdrawal_reject(reference="po-r2", staff="staff:eve", reason="no")
        now = timezone.now()
        rows = ledger_cashier(since=now - timedelta(days=1), until=now + timedelta(days=1), currency="EUR")
        withdrawals = {
            r["channel"]: (r["withdrawals"], r["withdrawal_count"], r["returned"], r["return_count"])
            for r in rows
            if r["channel"] != "seed_sandbox"
        }
        # Asked for through the API; the rejection is staff's, and the approval moves no wallet.
        assert withdrawals == {"operator_api": (51_000, 3, 0, 0), "staff": (0, 0, 20_000, 1)}


def test_the_backfill_records_withdrawals_made_before_it(client, sandbox):
    """Migration 0010's SQL: withdrawals with a reference from before the table are recorded,
    returned when a return reverses them, approved otherwise."""
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=None)
    withdraw(client, 1_000, "old-1")
    withdraw(client, 2_000, "old-2")
    call(client, "POST", "p_demo_1/withdrawals/old-2/return", {})
    wallet_withdraw(player_id="p_demo_1", currency="EUR", amount=3, created_by="staff:a", reason="no reference")
    expected = sorted(
        Withdrawal.objects.values_list("reference", "amount", "status", "request_journal_id", "reversal_journal_id")
    )
    WithdrawalEvent.objects.all().delete()  # the table came after the backfill's, as did its events
    Withdrawal.objects.all().delete()
    backfill = import_module("wallet.migrations.0010_withdrawal").Migration.operations[-1]
    with connection.cursor() as cursor:
        cursor.execute(backfill.sql)
    assert (
        sorted(
            Withdrawal.objects.values_list("reference", "amount", "status", "request_journal_id", "reversal_journal_id")
        )
        == expected
    )
    assert [status for *_, status, _, _ in expected] == ["approved", "returned"]
    assert wallet_withdrawal_return(player_id="p_demo_1", reference="old-1", created_by="t", reason="x").balance


def test_a_reviewer_sees_what_went_through_the_wallet(provider, wallet):
    """Funded with 10,000 by a deposit: bets, a rolled-back bet, a win, then a withdrawal."""
    from wallet.selectors import wallet_activity
    from wallet.services import wallet_credit, wallet_debit, wallet_rollback
    from wallet.tests.conftest import credit_request, debit_request, rollback_request

    start = timezone.now() - timedelta(seconds=5)
    wallet_debit(provider=provider, request=debit_request(wallet, amount=700, round_id="a"))
    wallet_debit(provider=provider, request=debit_request(wallet, amount=300, round_id="b", tx="bet-b"))
    wallet_rollback(provider=provider, request=rollback_request(wallet, reference="bet-b", round_id="b"))
    wallet_credit(provider=provider, request=credit_request(wallet, amount=250, round_id="a"))
    wallet_withdraw(
        player_id=wallet.player.player_id, currency=wallet.currency_id, amount=1_000, created_by="t", reason="x"
    )
    activity = wallet_activity(wallet=wallet, since=start - timedelta(days=1))
    assert {k: activity[k] for k in ("deposited", "wagered", "won", "withdrawn")} == {
        "deposited": 10_000,
        "wagered": 700,
        "won": 250,
        "withdrawn": 1_000,
    }
    later = wallet_activity(wallet=wallet, since=timezone.now() + timedelta(seconds=5))
    assert later == {**dict.fromkeys(activity, 0), "opening_balance": 8_550, "closing_balance": 8_550}


class TestAdmin:
    def test_the_queue_shows_pending_withdrawals_oldest_first(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-q1")
        withdraw(client, 5_000, "po-q2")
        withdraw(client, 40_000, "po-q3")
        r = admin_client.get(reverse("admin:wallet_withdrawal_changelist"))
        content = r.content.decode()
        assert r.status_code == 200
        assert "po-q2" not in content
        assert content.index("po-q1") < content.index("po-q3")
        assert "Review…" in content
        r = admin_client.get(reverse("admin:wallet_withdrawal_changelist") + "?status=all")
        assert "po-q2" in r.content.decode()

    def test_staff_approve_and_reject_on_the_review_page(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-a1")
        withdraw(client, 20_000, "po-a2")
        first, second = Withdrawal.objects.order_by("id")
        page = admin_client.get(reverse("admin:wallet_withdrawal_review", args=[first.pk]))
        assert page.status_code == 200 and "300.00 EUR" in page.content.decode()
        # The sandbox's seed deposit and both requests, 30 days back.
        assert "<th>Deposited</th><td>1000.00 EUR</td>" in page.content.decode()
        assert "30 days before the request until now (this withdrawal included)</caption>" in page.content.decode()
        assert "<th>Withdrawn</th><td>500.00 EUR</td>" in page.content.decode()
        r = admin_client.post(reverse("admin:wallet_withdrawal_review", args=[first.pk]), {"decision": "reject"})
        assert r.status_code == 200 and "This field is required" in r.content.decode()
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_review", args=[first.pk]), {"decision": "approve", "reason": "KYC done"}
        )
        assert r.status_code == 302
        assert messages_of(r)[0].startswith("Withdrawal po-a1 approved")
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_review", args=[second.pk]), {"decision": "reject", "reason": "duplicate"}
        )
        assert "the player's balance is 700.00 EUR" in messages_of(r)[-1]
        first.refresh_from_db()
        assert (first.status, first.decided_by, first.decision_memo) == ("approved", "staff:admin", "KYC done")
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_review", args=[second.pk]), {"decision": "approve", "reason": "late"}
        )
        assert messages_of(r)[-1] == "WITHDRAWAL_NOT_ALLOWED: Withdrawal 'po-a2' is rejected: it cannot be approved."
        assert (
            "Already decided"
            in admin_client.get(reverse("admin:wallet_withdrawal_review", args=[second.pk])).content.decode()
        )
        assert (balance(), held(), cash_out()) == (70_000, 0, 30_000)
        assert ledger_reconcile().ok

    def test_only_staff_with_the_review_permission_decide(self, client, django_user_model, sandbox):
        withdraw(client, 30_000, "po-p")
        clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
        clerk.user_permissions.add(Permission.objects.get(codename="view_withdrawal"))
        client.force_login(clerk)
        withdrawal = Withdrawal.objects.get()
        assert client.get(reverse("admin:wallet_withdrawal_changelist")).status_code == 200
        r = client.post(
            reverse("admin:wallet_withdrawal_review", args=[withdrawal.pk]), {"decision": "approve", "reason": "x"}
        )
        assert messages_of(r) == ["You may not approve or reject withdrawals."]
        assert Withdrawal.objects.get().status == "pending"
        clerk.user_permissions.add(Permission.objects.get(codename="review_withdrawal"))
        r = client.post(
            reverse("admin:wallet_withdrawal_review", args=[withdrawal.pk]), {"decision": "approve", "reason": "x"}
        )
        assert Withdrawal.objects.get().status == "approved"

    def test_staff_approve_a_page_of_the_queue_at_once(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-b1")
        withdraw(client, 20_000, "po-b2")
        withdraw(client, 5_000, "po-b3")  # under the threshold: approved when asked for
        Player.objects.filter(player_id="p_demo_2").update(kyc_status=Player.KycStatus.VERIFIED)
        Currency.objects.filter(code="USD").update(withdrawal_review_above=0)
        call(client, "POST", "p_demo_2/withdrawals", {"currency": "USD", "amount": 700, "reference": "po-b4"})
        ids = list(Withdrawal.objects.order_by("id").values_list("pk", flat=True))
        changelist = reverse("admin:wallet_withdrawal_changelist") + "?status=all"
        selection = {"action": "approve_selected", "_selected_action": ids}
        page = admin_client.post(changelist, selection)
        content = page.content.decode()
        assert page.status_code == 200, content
        assert "Approve 3 withdrawal(s)" in content
        assert "In all: 500.00 EUR, 7.00 USD." in content
        assert "Not pending, left as they are: po-b3 (approved)." in content
        assert Withdrawal.objects.filter(status="pending").count() == 3  # nothing decided by looking
        # The page posts back the pending ones it showed, not the whole selection.
        shown = re.findall(r'name="_selected_action" value="(\d+)"', content)
        assert sorted(map(int, shown)) == sorted(
            Withdrawal.objects.filter(status="pending").values_list("pk", flat=True)
        )
        confirmed = {"action": "approve_selected", "_selected_action": shown, "confirm": "yes"}
        r = admin_client.post(changelist, {**confirmed, "reason": ""})
        assert "This field is required" in r.content.decode()
        assert Withdrawal.objects.filter(status="pending").count() == 3
        r = admin_client.post(changelist, {**confirmed, "reason": "batch checked"})
        assert r.status_code == 302
        assert messages_of(r) == ["3 withdrawal(s) approved (500.00 EUR, 7.00 USD)."]
        decided = Withdrawal.objects.exclude(reference="po-b3")
        assert {(w.status, w.decided_by, w.decision_memo) for w in decided} == {
            ("approved", "staff:admin", "batch checked")
        }
        assert (balance(), held(), cash_out()) == (45_000, 0, 55_000)
        assert ledger_reconcile().ok

    def test_a_bulk_decision_reports_what_it_did_not_decide(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-c1")
        withdraw(client, 20_000, "po-c2")
        withdraw(client, 25_000, "po-c3")
        first, second, third = Withdrawal.objects.order_by("id")
        ids = [first.pk, second.pk, third.pk]
        selection = {"action": "approve_selected", "_selected_action": ids}
        page = admin_client.post(reverse("admin:wallet_withdrawal_changelist"), selection).content.decode()
        assert "will not be approved until verified" not in page
        # The confirmation goes to the whole list, where the queue's pending filter cannot hide
        # one decided meanwhile.
        confirm_to = reverse("admin:wallet_withdrawal_changelist") + "?status=all"
        assert f'action="{confirm_to}"' in page
        # Between the confirmation page and the click a colleague rejects one and approves another.
        withdrawal_reject(reference="po-c2", staff="staff:bob", reason="duplicate")
        withdrawal_approve(reference="po-c3", staff="staff:bob", reason="ok")
        r = admin_client.post(confirm_to, {**selection, "confirm": "yes", "reason": "batch"})
        assert messages_of(r) == [
            "1 withdrawal(s) approved (300.00 EUR).",
            "2 not approved: po-c2 (now rejected), po-c3 (now approved).",
        ]
        assert [w.status for w in Withdrawal.objects.order_by("id")] == ["approved", "rejected", "approved"]
        assert ledger_reconcile().ok

    def test_a_bulk_approval_stops_at_an_unverified_player(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-k1")
        withdraw(client, 20_000, "po-k2")
        Player.objects.filter(player_id="p_demo_1").update(kyc_status=Player.KycStatus.PENDING)
        ids = list(Withdrawal.objects.values_list("pk", flat=True))
        selection = {"action": "approve_selected", "_selected_action": ids}
        page = admin_client.post(reverse("admin:wallet_withdrawal_changelist"), selection).content.decode()
        assert page.count("will not be approved until verified") == 2
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_changelist"), {**selection, "confirm": "yes", "reason": "batch"}
        )
        assert messages_of(r) == ["2 not approved: po-k1 (KYC_REQUIRED), po-k2 (KYC_REQUIRED)."]
        assert Withdrawal.objects.filter(status="pending").count() == 2
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_changelist"),
            {"action": "reject_selected", "_selected_action": ids, "confirm": "yes", "reason": "no documents"},
        )
        assert messages_of(r)[-1] == "2 withdrawal(s) rejected (500.00 EUR)."  # after the refusal's, unread
        assert (balance(), held(), cash_out()) == (100_000, 0, 0)

    def test_a_player_blocked_after_asking_is_not_paid_until_unblocked(self, client, admin_client, sandbox):
        """Blocked since the request (a fraud suspicion): frozen as the cashier's request would
        be. Staff reject it, or lift the block first if they decide to pay."""
        withdraw(client, 30_000, "po-b1")
        withdraw(client, 20_000, "po-b2")
        Player.objects.filter(player_id="p_demo_1").update(status=Player.Status.BLOCKED)
        ids = list(Withdrawal.objects.values_list("pk", flat=True))
        selection = {"action": "approve_selected", "_selected_action": ids}
        page = admin_client.post(reverse("admin:wallet_withdrawal_changelist"), selection).content.decode()
        assert page.count("blocked: will not be approved until unblocked") == 2
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_changelist"), {**selection, "confirm": "yes", "reason": "batch"}
        )
        assert messages_of(r) == ["2 not approved: po-b1 (PLAYER_BLOCKED), po-b2 (PLAYER_BLOCKED)."]
        review = reverse("admin:wallet_withdrawal_review", args=[ids[0]])
        assert "cannot be\n   approved while the player is blocked" in admin_client.get(review).content.decode()
        assert (balance(), held(), cash_out()) == (50_000, 50_000, 0)
        Player.objects.filter(player_id="p_demo_1").update(status=Player.Status.ACTIVE)
        assert withdrawal_approve(reference="po-b1", staff="staff:x", reason="cleared").status == "approved"
        assert withdrawal_reject(reference="po-b2", staff="staff:x", reason="fraud").status == "rejected"
        assert (balance(), held(), cash_out()) == (70_000, 0, 30_000) and ledger_reconcile().ok

    def test_a_decision_a_colleague_made_first_is_not_reported_as_one_s_own(self, client, admin_client, sandbox):
        withdraw(client, 30_000, "po-c1")
        withdrawal = Withdrawal.objects.get()
        withdrawal_reject(reference="po-c1", staff="staff:carol", reason="duplicate")
        r = admin_client.post(
            reverse("admin:wallet_withdrawal_review", args=[withdrawal.pk]), {"decision": "reject", "reason": "dup"}
        )
        assert messages_of(r) == ["Withdrawal po-c1 was already rejected by staff:carol: nothing more was moved."]
        assert (balance(), held()) == (100_000, 0) and ledger_reconcile().ok

    def test_bulk_decisions_need_the_review_permission(self, client, django_user_model, sandbox):
        withdraw(client, 30_000, "po-bp")
        clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
        clerk.user_permissions.add(Permission.objects.get(codename="view_withdrawal"))
        client.force_login(clerk)
        changelist = reverse("admin:wallet_withdrawal_changelist")
        assert "approve_selected" not in client.get(changelist).content.decode()
        ids = list(Withdrawal.objects.values_list("pk", flat=True))
        client.post(
            changelist, {"action": "approve_selected", "_selected_action": ids, "confirm": "yes", "reason": "x"}
        )
        assert Withdrawal.objects.get().status == "pending"
        clerk.user_permissions.add(Permission.objects.get(codename="review_withdrawal"))
        assert "approve_selected" in client.get(changelist).content.decode()

    def test_nothing_pending_selected_decides_nothing(self, client, admin_client, sandbox):
        withdraw(client, 5_000, "po-n1")
        selection = {"action": "reject_selected", "_selected_action": Withdrawal.objects.values_list("pk", flat=True)}
        changelist = reverse("admin:wallet_withdrawal_changelist") + "?status=all"
        r = admin_client.post(changelist, selection)
        assert messages_of(r) == ["None of the selected withdrawals is pending: nothing to decide."]
        r = admin_client.post(changelist, {**selection, "confirm": "yes", "reason": "x"})
        assert messages_of(r)[-1] == "1 not rejected: po-n1 (now approved)."
        assert Withdrawal.objects.get().status == "approved"

    def test_the_threshold_is_set_on_the_currency(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:ledger_currency_changelist"))
        assert r.status_code == 200 and "withdrawal review above" in r.content.decode().lower()


@pytest.mark.django_db(transaction=True)
def test_racing_cancellations_and_approvals_decide_a_withdrawal_once(live_server):
    """Six cancellations over HTTP race six staff approvals in threads: one kind wins, once;
    the money is either back in the wallet or on cash_out, never both, never twice."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=0)
    base = f"{live_server.url}/api/v1/players/p_demo_1"
    body = {"currency": "EUR", "amount": 25_000, "reference": "po-race"}
    assert requests.post(f"{base}/withdrawals", json=body, headers=TOKEN, timeout=30).json()["status"] == "pending"

    def cancel(_):
        with requests.Session() as http:
            r = http.post(f"{base}/withdrawals/po-race/cancel", json={}, headers=TOKEN, timeout=30)
            return "cancel", r.status_code

    def approve(_):
        try:
            withdrawal_approve(reference="po-race", staff="staff:eve", reason="race")
            return "approve", 200
        except WithdrawalNotAllowed:
            return "approve", 409
        finally:
            connection.close()

    answers = together_behind_a_lock(lambda: player_locked("p_demo_1"), lambda n: (cancel, approve)[n % 2](n), 12)
    winners = {kind for kind, status in answers if status == 200}
    assert len(winners) == 1 and {status for _, status in answers} <= {200, 409}, answers
    assert all(status == 409 for kind, status in answers if kind not in winners)
    withdrawal = Withdrawal.objects.get()
    if winners == {"cancel"}:
        assert (withdrawal.status, balance(), cash_out()) == ("cancelled", 100_000, 0)
    else:
        assert (withdrawal.status, balance(), cash_out()) == ("approved", 75_000, 25_000)
    assert held() == 0
    assert JournalTransaction.objects.filter(reason__in=["approved", "cancelled"]).count() == 1
    assert ledger_reconcile().ok
