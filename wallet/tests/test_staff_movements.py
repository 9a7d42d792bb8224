"""Four eyes on staff's money movements: over the currency's "second approval" threshold a
deposit, withdrawal or adjustment entered on "Move money…" moves nothing until another member
of staff approves it, and then moves once, however many approvals race."""

import io
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from casino_platform import clock
from casino_platform.errors import DomainError
from casino_platform.tests.locks import together_behind_a_lock, until_another_waits_for_a_lock
from ledger.errors import IdempotencyMismatch
from ledger.models import Currency, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import Player
from wallet.errors import FourEyesRequired, InsufficientFunds, StaffMovementNotAllowed
from wallet.models import StaffDayTotal, StaffMovement, Wallet, Withdrawal, WithdrawalEvent
from wallet.selectors import staff_moved_alone_today
from wallet.services import staff_money_move, staff_movement_approve, staff_movement_reject, withdrawal_approve
from wallet.tests.test_admin import eur, messages_of, move
from wallet.tests.test_cashier import balance, call

pytestmark = pytest.mark.django_db

ABOVE = 50_000  # EUR minor units: 500.00


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(staff_approval_above=ABOVE)


def wallet(player_id="p_demo_1") -> Wallet:
    return Wallet.objects.select_related("player", "currency").get(player__player_id=player_id, currency_id="EUR")


def ask(kind="deposit", amount=ABOVE + 1, staff="staff:alice", **kw) -> StaffMovement:
    outcome = staff_money_move(wallet=wallet(), kind=kind, amount=amount, staff=staff, reason="bank transfer", **kw)
    assert outcome.result is None and outcome.waiting is not None
    return outcome.waiting


def staff_journals() -> int:
    return JournalTransaction.objects.filter(created_by__startswith="staff:").count()


class TestServices:
    def test_up_to_the_threshold_it_moves_at_once(self, sandbox):
        outcome = staff_money_move(wallet=wallet(), kind="adjust", amount=-ABOVE, staff="staff:alice", reason="fix")
        assert outcome.waiting is None and outcome.result is not None
        assert balance() == 100_000 - ABOVE

    def test_over_it_nothing_moves_until_someone_else_approves(self, sandbox):
        movement = ask()
        assert (balance(), staff_journals(), movement.status) == (100_000, 0, "pending")
        with pytest.raises(FourEyesRequired):
            staff_movement_approve(movement_id=movement.pk, staff="staff:alice", reason="mine")
        assert balance() == 100_000
        result = staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="transfer seen")
        assert (result.balance, balance()) == (150_001, 150_001)
        movement.refresh_from_db()
        assert (movement.status, movement.decided_by, movement.decision_memo) == (
            "approved",
            "staff:bob",
            "transfer seen",
        )
        journal = movement.journal
        assert (journal.kind, journal.created_by, journal.memo) == (
            "deposit",
            "staff:alice",
            "bank transfer (approved by staff:bob)",
        )
        assert journal.provider_transaction_id == f"staff-movement:{movement.pk}"
        with pytest.raises(StaffMovementNotAllowed):
            staff_movement_approve(movement_id=movement.pk, staff="staff:carol", reason="again")
        assert balance() == 150_001 and ledger_reconcile().ok

    @pytest.mark.parametrize("kind, amount, after", [("withdraw", 60_000, 40_000), ("adjust", -60_000, 40_000)])
    def test_money_out_and_negative_adjustments_wait_too(self, sandbox, kind, amount, after):
        movement = ask(kind=kind, amount=amount)
        assert balance() == 100_000
        staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="ok")
        assert balance() == after and ledger_reconcile().ok

    def test_a_rejection_moves_nothing_and_the_requester_may_take_it_back(self, sandbox):
        first, second = ask(), ask()
        staff_movement_reject(movement_id=first.pk, staff="staff:bob", reason="no transfer arrived")
        staff_movement_reject(movement_id=second.pk, staff="staff:alice", reason="typo in the amount")
        with pytest.raises(StaffMovementNotAllowed) as refused:
            staff_movement_approve(movement_id=first.pk, staff="staff:bob", reason="changed my mind")
        assert refused.value.details == {"status": "rejected"}
        assert (balance(), staff_journals()) == (100_000, 0)

    def test_a_refusal_when_approved_closes_the_request(self, sandbox):
        movement = ask(kind="withdraw", amount=ABOVE + 1)
        # Meanwhile another payout takes half the balance: the first no longer fits.
        staff_money_move(wallet=wallet(), kind="withdraw", amount=ABOVE, staff="staff:carol", reason="payout")
        with pytest.raises(InsufficientFunds):
            staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="ok")
        movement.refresh_from_db()
        assert (movement.status, movement.journal) == ("refused", None)
        assert movement.decision_memo.startswith("INSUFFICIENT_FUNDS: ")
        assert balance() == 100_000 - ABOVE

    def test_a_currency_disabled_meanwhile_leaves_the_request_pending_to_approve_later_or_reject(self, sandbox):
        movement = ask()
        Currency.objects.filter(code="EUR").update(is_enabled=False)
        with pytest.raises(DomainError, match="EUR is not enabled: approve this once it is, or reject it"):
            staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="ok")
        movement.refresh_from_db()
        assert (movement.status, movement.decided_by) == ("pending", "")
        Currency.objects.filter(code="EUR").update(is_enabled=True)
        staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="enabled again")
        assert balance() == 100_000 + ABOVE + 1
        other = ask()
        Currency.objects.filter(code="EUR").update(is_enabled=False)
        with pytest.raises(DomainError):
            staff_movement_approve(movement_id=other.pk, staff="staff:bob", reason="ok")
        staff_movement_reject(movement_id=other.pk, staff="staff:alice", reason="taken back")
        assert StaffMovement.objects.get(pk=other.pk).status == "rejected"

    def test_a_withdrawal_waiting_in_a_currency_disabled_meanwhile_is_still_approved(self, sandbox):
        """Money may leave a wallet whose currency is retired: paying out what is left."""
        movement = ask(kind="withdraw")
        Currency.objects.filter(code="EUR").update(is_enabled=False)
        staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="paying out a retired currency")
        assert (StaffMovement.objects.get(pk=movement.pk).status, balance()) == ("approved", 100_000 - ABOVE - 1)

    def test_an_approval_left_unfinished_is_finished_once(self, sandbox):
        movement = ask()
        StaffMovement.objects.filter(pk=movement.pk).update(status="approving", decided_by="staff:bob")
        staff_movement_approve(movement_id=movement.pk, staff="staff:carol", reason="finishing")
        movement.refresh_from_db()
        assert (movement.status, movement.decided_by, balance()) == ("approved", "staff:bob", 150_001)
        with pytest.raises(StaffMovementNotAllowed):
            staff_movement_reject(movement_id=movement.pk, staff="staff:carol", reason="too late")

    def test_staff_s_reference_moves_once_with_the_payment_system_s(self, client, sandbox):
        """Staff enter a bank transfer the payment system then delivers too: one movement."""
        movement = ask(reference="psp-991")
        r = call(client, "POST", "p_demo_1/deposits", {"currency": "EUR", "amount": ABOVE + 1, "reference": "psp-991"})
        assert r.status_code == 200, r.content
        result = staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="ok")
        assert result.replayed and balance() == 150_001
        movement.refresh_from_db()
        assert (movement.status, str(movement.journal_id)) == ("approved", r.json()["platform_transaction_id"])

    @pytest.mark.parametrize(
        "kind, amount, reason, reference, field",
        [
            ("deposit", 0, "x", None, "amount"),
            ("adjust", 0, "x", None, "amount"),
            ("deposit", ABOVE + 1, " ", None, "reason"),
            ("deposit", ABOVE + 1, "x", "has space", "reference"),
            ("bonus", ABOVE + 1, "x", None, "kind"),
        ],
    )
    def test_bad_input_is_refused_when_asked_not_when_approved(self, sandbox, kind, amount, reason, reference, field):
        Currency.objects.filter(code="EUR").update(staff_approval_above=0)
        with pytest.raises(DomainError) as refused:
            staff_money_move(
                wallet=wallet(), kind=kind, amount=amount, staff="staff:alice", reason=reason, reference=reference
            )
        assert field in refused.value.details
        assert StaffMovement.objects.count() == 0

    def test_a_staff_withdrawal_without_a_reference_is_no_payout(self, client, sandbox):
        """Made under its own reference only to move once: no Withdrawal for the payment
        system to send, and none to 'return' by that reference."""
        Currency.objects.filter(code="EUR").update(staff_approval_above=1_000)
        movement = ask(kind="withdraw", amount=2_000)
        staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="cash handed over")
        assert not Withdrawal.objects.exists()
        r = call(client, "POST", f"p_demo_1/withdrawals/staff-movement:{movement.pk}/return", {"reason": "x"})
        assert r.json()["code"] == "WITHDRAWAL_NOT_FOUND"
        with_reference = ask(kind="withdraw", amount=2_000, reference="bank-out-1")
        staff_movement_approve(movement_id=with_reference.pk, staff="staff:bob", reason="transfer sent")
        assert Withdrawal.objects.get().reference == "bank-out-1"  # a payout with its payment's reference
        assert balance() == 100_000 - 4_000 and ledger_reconcile().ok

    def test_the_platform_s_own_references_are_refused_from_outside(self, client, sandbox):
        with pytest.raises(DomainError) as refused:
            staff_money_move(
                wallet=wallet(),
                kind="deposit",
                amount=10,
                staff="staff:alice",
                reason="x",
                reference="staff-movement:1",
            )
        assert "reference" in refused.value.details
        for path in ("deposits", "withdrawals"):
            for reference in ("staff-movement:1", f"staff-submission:{'0' * 32}"):
                body = {"currency": "EUR", "amount": 10, "reference": reference}
                r = call(client, "POST", f"p_demo_1/{path}", body)
                assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
        assert balance() == 100_000

    def test_the_database_holds_the_four_eyes(self, sandbox):
        movement = ask()
        with pytest.raises(IntegrityError), transaction.atomic():
            StaffMovement.objects.filter(pk=movement.pk).update(status="approving", decided_by="staff:alice")
        with pytest.raises(IntegrityError), transaction.atomic():
            StaffMovement.objects.filter(pk=movement.pk).update(status="approved", decided_by="staff:bob")  # no journal


class TestAdmin:
    def test_move_money_over_the_threshold_waits_then_a_colleague_approves(
        self, admin_client, django_user_model, sandbox
    ):
        page = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet().pk])).content.decode()
        assert "more than 500.00 EUR waits for another member of staff" in page
        r = move(admin_client, wallet(), kind="deposit", amount=eur(ABOVE + 1), reason="bank transfer 77")
        movement = StaffMovement.objects.get()
        review = reverse("admin:wallet_staffmovement_review", args=[movement.pk])
        assert r.status_code == 302 and r["Location"] == review  # which the requester may open
        assert messages_of(r) == [
            "Nothing moved yet: over 500.00 EUR, this movement waits for another member of staff to approve it "
            f"(staff movement {movement.pk})."
        ]
        assert balance() == 100_000
        own = admin_client.get(review).content.decode()
        assert "You asked for it" in own
        r = admin_client.post(review, {"decision": "approve", "reason": "mine"})
        assert messages_of(r)[-1].startswith("FOUR_EYES_REQUIRED: ")
        assert balance() == 100_000
        queue = admin_client.get(reverse("admin:wallet_staffmovement_changelist")).content.decode()
        assert "500.01 EUR" in queue and "Review…" in queue

        checker = django_user_model.objects.create_user(username="bob", password="x", is_staff=True)
        checker.user_permissions.add(*Permission.objects.filter(codename__in=["view_staffmovement"]))
        admin_client.force_login(checker)
        r = admin_client.post(review, {"decision": "approve", "reason": "seen"})
        assert messages_of(r) == ["You may not approve or reject staff money movements."]
        checker.user_permissions.add(Permission.objects.get(codename="approve_staffmovement"))
        r = admin_client.post(review, {"decision": "approve", "reason": "transfer seen"})
        assert r.status_code == 302
        assert messages_of(r)[-1].startswith(f"Staff movement {movement.pk} approved: moved (ledger transaction ")
        assert balance() == 150_001 and ledger_reconcile().ok
        assert "Already decided" in admin_client.get(review).content.decode()

    @pytest.mark.parametrize("amount", [ABOVE, ABOVE + 1], ids=["at-once", "held-then-approved"])
    def test_a_withdrawal_sent_from_the_form_without_a_reference_is_no_payout(
        self, admin_client, django_user_model, sandbox, amount
    ):
        """As a browser sends it, with the page's submission key: cash handed over at the desk
        is no payout for the payment system to send again, nor one to return."""
        page = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet().pk]))
        submission = page.context["form"]["submission"].value()
        move(
            admin_client,
            wallet(),
            kind="withdraw",
            amount=eur(amount),
            reason="cash at the desk",
            submission=submission,
        )
        if amount > ABOVE:
            checker = django_user_model.objects.create_superuser(username="bob", password="x")
            admin_client.force_login(checker)
            review = reverse("admin:wallet_staffmovement_review", args=[StaffMovement.objects.get().pk])
            admin_client.post(review, {"decision": "approve", "reason": "cash seen"})
        assert balance() == 100_000 - amount and ledger_reconcile().ok
        assert not Withdrawal.objects.exists()
        assert not WithdrawalEvent.objects.exists()

    def test_a_refusal_on_the_review_page_shows_the_request_closed(self, client, admin_client, sandbox):
        movement = ask(kind="withdraw", amount=ABOVE + 1, staff="staff:alice")
        call(client, "POST", "p_demo_1/withdrawals", {"currency": "EUR", "amount": ABOVE, "reference": "po-x"})
        review = reverse("admin:wallet_staffmovement_review", args=[movement.pk])
        r = admin_client.post(review, {"decision": "approve", "reason": "ok"})
        assert r.status_code == 200
        assert messages_of(r)[-1].startswith("INSUFFICIENT_FUNDS: ")
        page = r.content.decode()
        assert "Refused when approved" in page and "Already decided" in page and 'name="decision"' not in page

    def test_an_over_long_reason_is_a_form_error(self, admin_client, sandbox):
        r = move(admin_client, wallet(), kind="deposit", amount=eur(ABOVE + 1), reason="x" * 501)
        assert r.status_code == 200 and "at most 500 characters" in r.content.decode()
        assert StaffMovement.objects.count() == 0

    def test_the_queue_shows_the_open_ones_and_metrics_count_them(self, client, admin_client, sandbox):
        from casino_platform.tests.test_metrics import scrape, value

        ask(), ask(amount=ABOVE + 2), ask(amount=ABOVE + 3)
        unfinished, rejected = StaffMovement.objects.order_by("id")[1:]
        StaffMovement.objects.filter(pk=unfinished.pk).update(status="approving", decided_by="staff:bob")
        staff_movement_reject(movement_id=rejected.pk, staff="staff:bob", reason="no")
        queue = admin_client.get(reverse("admin:wallet_staffmovement_changelist")).content.decode()
        assert "500.01 EUR" in queue and "500.02 EUR" in queue and "500.03 EUR" not in queue
        samples = scrape(client)
        assert value(samples, "staff_movements_waiting", currency="EUR") == 2
        assert value(samples, "staff_movements_waiting", currency="USD") == 0
        assert value(samples, "staff_movements_waiting_oldest_age_seconds", currency="EUR") >= 0

    def test_the_threshold_is_set_on_the_currency(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:ledger_currency_changelist"))
        assert "second approval for staff movements above" in r.content.decode().lower()


ALLOWANCE = 100_000  # EUR minor units: 1,000.00 a day alone


@pytest.fixture
def allowance(sandbox):
    Currency.objects.filter(code="EUR").update(staff_daily_allowance=ALLOWANCE)


def alone(kind="deposit", amount=40_000, staff="staff:alice", **kw):
    return staff_money_move(wallet=wallet(), kind=kind, amount=amount, staff=staff, reason="bank transfer", **kw)


def moved_today(staff="staff:alice") -> int:
    return staff_moved_alone_today(staff=staff, currency="EUR")


class TestDayTotal:
    """Under the threshold per movement, what one member of staff moves alone in a day is
    bounded too, so a sum split into small movements waits for four eyes."""

    def test_movements_under_the_threshold_add_up_until_the_next_one_waits(self, allowance):
        assert alone(amount=40_000).result is not None
        assert alone(kind="adjust", amount=-40_000).result is not None  # either sign counts
        assert moved_today() == 80_000 and balance() == 100_000
        outcome = alone(amount=20_001)
        assert outcome.result is None and outcome.waiting is not None
        waiting = outcome.waiting
        assert (waiting.held_because, waiting.status, waiting.amount) == ("day_total", "pending", 20_001)
        assert (moved_today(), balance()) == (80_000, 100_000)  # nothing moved, nothing counted
        assert alone(amount=20_000).result is not None  # exactly up to it still goes
        assert moved_today() == ALLOWANCE
        # Another member of staff has their own day; an approval is four eyes, so not counted.
        assert alone(amount=1, staff="staff:bob").result is not None
        staff_movement_approve(movement_id=waiting.pk, staff="staff:bob", reason="seen the transfer")
        assert (moved_today(), moved_today("staff:bob")) == (ALLOWANCE, 1)
        assert balance() == 100_000 + 20_000 + 1 + 20_001 and ledger_reconcile().ok

    def test_a_refused_or_repeated_movement_is_not_counted(self, allowance):
        Currency.objects.filter(code="EUR").update(staff_approval_above=None, staff_daily_allowance=10**9)
        with pytest.raises(InsufficientFunds):
            alone(kind="withdraw", amount=100_001)
        assert moved_today() == 0
        with pytest.raises(DomainError):
            alone(kind="adjust", amount=0)  # bad input: refused by the movement
        assert moved_today() == 0
        first = alone(amount=30_000, reference="bank-991")
        again = alone(amount=30_000, reference="bank-991")
        assert (first.result.replayed, again.result.replayed) == (False, True)
        assert (moved_today(), balance()) == (30_000, 130_000)

    def test_a_new_utc_day_starts_from_nothing(self, allowance, monkeypatch):
        alone(amount=ALLOWANCE // 2), alone(amount=ALLOWANCE // 2)
        assert alone(amount=1).waiting is not None
        tomorrow = timezone.now() + timedelta(days=1)
        monkeypatch.setattr("casino_platform.clock.now", lambda: tomorrow)
        assert moved_today() == 0
        assert alone(amount=1).result is not None
        assert list(StaffDayTotal.objects.order_by("day").values_list("moved", flat=True)) == [ALLOWANCE, 1]

    def test_without_an_allowance_nothing_is_counted(self, sandbox):
        alone(amount=ABOVE)
        alone(amount=ABOVE)
        assert StaffDayTotal.objects.count() == 0 and balance() == 200_000

    def test_the_threshold_per_movement_is_checked_first(self, allowance):
        assert ask(amount=ABOVE + 1).held_because == "amount"
        assert moved_today() == 0


class TestTheSameFormAgain:
    """A form posted twice (a double click, a proxy's retry, the browser's "resend") is one
    movement, whatever the thresholds make of the second post."""

    def test_over_the_threshold_it_asks_for_one_approval(self, admin_client, sandbox):
        submission = (
            admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet().pk]))
            .context["form"]["submission"]
            .value()
        )
        move(admin_client, wallet(), kind="deposit", amount=eur(ABOVE + 1), submission=submission)
        again = move(admin_client, wallet(), kind="deposit", amount=eur(ABOVE + 1), submission=submission)
        movement = StaffMovement.objects.get()
        assert again["Location"] == reverse("admin:wallet_staffmovement_review", args=[movement.pk])
        assert messages_of(again)[-1:] == [
            f"Nothing moved: this movement already waits for approval as staff movement {movement.pk}, asked for "
            f"by staff:admin on {movement.requested_at:%Y-%m-%d %H:%M} UTC."
        ]

    def test_after_its_money_moved_it_is_not_said_to_wait(self, admin_client, sandbox):
        """Allowance 1,000.00, 600.00 moved: the second post of a 300.00 form took the day's
        share again before its replay was found, found the allowance spent and was queued
        ("Nothing moved yet"): staff told so enter it again, and it moves twice."""
        Currency.objects.filter(code="EUR").update(staff_approval_above=None, staff_daily_allowance=100_000)
        staff_money_move(wallet=wallet(), kind="deposit", amount=60_000, staff="staff:admin", reason="earlier")
        submission = (
            admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet().pk]))
            .context["form"]["submission"]
            .value()
        )
        first = move(admin_client, wallet(), kind="deposit", amount="300.00", submission=submission)
        second = move(admin_client, wallet(), kind="deposit", amount="300.00", submission=submission)
        assert messages_of(first)[-1].startswith("Done: Deposited 300.00 EUR")
        assert messages_of(second)[-1].startswith(
            "Nothing moved now: this movement was already recorded from this form"
        )
        assert (balance(), staff_moved_alone_today(staff="staff:admin", currency="EUR")) == (190_000, 90_000)
        assert not StaffMovement.objects.exists()

    def test_a_reference_waiting_for_approval_names_that_request_only(self, sandbox):
        waiting = ask(reference="bank-4711")
        assert ask(reference="bank-4711").pk == waiting.pk
        with pytest.raises(IdempotencyMismatch) as refused:
            staff_money_move(
                wallet=wallet(), kind="deposit", amount=ABOVE + 2, staff="staff:bob", reason="x", reference="bank-4711"
            )
        assert refused.value.details == {"staff_movement": waiting.pk}
        assert StaffMovement.objects.count() == 1

    def test_a_reference_used_before_is_answered_before_any_threshold(self, sandbox):
        """Made at once under the threshold since raised: asked again, it is the same movement,
        not a request to approve it a second time."""
        Currency.objects.filter(code="EUR").update(staff_approval_above=None)
        made = staff_money_move(
            wallet=wallet(), kind="deposit", amount=ABOVE + 1, staff="staff:alice", reason="x", reference="bank-9"
        ).result
        Currency.objects.filter(code="EUR").update(staff_approval_above=ABOVE)
        again = staff_money_move(
            wallet=wallet(), kind="deposit", amount=ABOVE + 1, staff="staff:alice", reason="x", reference="bank-9"
        )
        assert again.waiting is None and again.result.replayed
        assert again.result.platform_transaction_id == made.platform_transaction_id
        assert balance() == 100_000 + ABOVE + 1 and not StaffMovement.objects.exists()

    def test_the_checker_sees_the_player_as_they_stand_now(self, admin_client, sandbox):
        """A payout held for four eyes whose player was blocked since (a fraud suspicion): the
        review page said nothing of it."""
        held = ask(kind="withdraw", reference="po-77")
        review = reverse("admin:wallet_staffmovement_review", args=[held.pk])
        assert "The player now: active, KYC verified." in admin_client.get(review).content.decode()
        Player.objects.filter(player_id="p_demo_1").update(status=Player.Status.BLOCKED)
        page = admin_client.get(review).content.decode()
        assert "The player now: blocked, KYC verified." in page and "<strong>Blocked:</strong>" in page


@pytest.mark.django_db(transaction=True)
def test_the_same_form_posted_twice_at_once_over_the_threshold_asks_for_one_approval():
    """Both posts find no request under the form's key, both are over the threshold; staged to
    wait for the wallet's lock together, one records the request and the other finds it."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(staff_approval_above=ABOVE)

    def post(n: int) -> bool:
        outcome = staff_money_move(
            wallet=wallet(), kind="deposit", amount=ABOVE + 1, staff="staff:alice", reason="x", submission="a" * 32
        )
        assert outcome.waiting is not None
        return outcome.asked_before

    asked_before = together_behind_a_lock(lambda: Wallet.objects.select_for_update().get(pk=wallet().pk), post, 2)
    assert sorted(asked_before) == [False, True]
    assert StaffMovement.objects.count() == 1 and balance() == 100_000


class TestDayTotalAdmin:
    def test_move_money_says_what_is_left_and_why_a_movement_waits(self, admin_client, allowance):
        alone(amount=40_000, staff="staff:admin"), alone(kind="adjust", amount=-40_000, staff="staff:admin")
        page = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet().pk])).content.decode()
        assert "You may move 1000.00 EUR in all alone today" in page and "you have moved\n   800.00 EUR" in page
        r = move(admin_client, wallet(), kind="deposit", amount="200.01", reason="split transfer")
        movement = StaffMovement.objects.get()
        assert messages_of(r) == [
            "Nothing moved yet: it would take what you moved alone today over 1000.00 EUR, this movement waits "
            f"for another member of staff to approve it (staff movement {movement.pk})."
        ]
        review = admin_client.get(r["Location"]).content.decode()
        assert "Held for a second approval: over what the requester may move alone today." in review
        queue = admin_client.get(reverse("admin:wallet_staffmovement_changelist")).content.decode()
        assert "Over what the requester may move alone today" in queue

    def test_staff_day_totals_are_listed_for_finance(self, admin_client, allowance):
        alone(amount=40_000)
        alone(amount=5_000, staff="staff:bob")
        page = admin_client.get(reverse("admin:wallet_staffdaytotal_changelist")).content.decode()
        assert "staff:alice" in page and "400.00 EUR" in page and "50.00 EUR" in page and "1000.00 EUR" in page
        r = admin_client.get(reverse("admin:wallet_staffdaytotal_changelist"), {"q": "staff:bob"})
        assert "staff:alice" not in r.content.decode()
        currencies = admin_client.get(reverse("admin:ledger_currency_changelist")).content.decode().lower()
        assert "staff may move alone per day" in currencies


@pytest.mark.django_db(transaction=True)
def test_staff_s_parallel_movements_never_pass_the_day_s_allowance():
    """Eight movements of 30.00 by one member of staff race in threads on real PostgreSQL
    against an allowance of 100.00: three move, five wait, and the day's total is what moved."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(staff_daily_allowance=10_000)

    def one(n):
        try:
            outcome = alone(amount=3_000, reference=f"split-{n}")
            return "moved" if outcome.result is not None else "waits"
        finally:
            connection.close()

    def day_total_locked():
        # Where the allowance is counted: all eight wait for it, then take their share in turn.
        today = clock.now().date()
        StaffDayTotal.objects.get_or_create(staff="staff:alice", currency_id="EUR", day=today)
        StaffDayTotal.objects.select_for_update().get(staff="staff:alice", currency_id="EUR", day=today)

    answers = sorted(together_behind_a_lock(day_total_locked, one, 8))
    assert answers == ["moved"] * 3 + ["waits"] * 5
    assert (moved_today(), balance()) == (9_000, 109_000)
    assert StaffMovement.objects.filter(held_because="day_total", status="pending").count() == 5
    assert ledger_reconcile().ok


@pytest.mark.django_db(transaction=True)
def test_racing_approvals_and_rejections_move_the_money_once():
    """Six approvals by different staff race six rejections in threads on real PostgreSQL:
    either it is rejected and nothing moved, or it moved exactly once."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(staff_approval_above=0)
    movement = ask(amount=7_000)

    steps = {"approve": (staff_movement_approve, "checker"), "reject": (staff_movement_reject, "rejecter")}

    def decide(kind, n):
        step, who = steps[kind]
        try:
            step(movement_id=movement.pk, staff=f"staff:{who}{n}", reason="race")
            return kind, "ok"
        except StaffMovementNotAllowed:
            return kind, "refused"
        finally:
            connection.close()

    kinds = list(steps)
    answers = together_behind_a_lock(
        lambda: StaffMovement.objects.select_for_update().get(pk=movement.pk), lambda n: decide(kinds[n % 2], n), 12
    )
    movement.refresh_from_db()
    moved = JournalTransaction.objects.filter(provider_transaction_id=f"staff-movement:{movement.pk}").count()
    if movement.status == "rejected":
        assert (moved, balance()) == (0, 100_000), answers
        assert ("reject", "ok") in answers
    else:
        assert (movement.status, moved, balance()) == ("approved", 1, 107_000), answers
        assert ("reject", "ok") not in answers
    assert ledger_reconcile().ok


def paid_out(client, amount: int, reference: str) -> None:
    """A withdrawal through the operator API, approved at once (no review asked for)."""
    r = call(client, "POST", "p_demo_1/withdrawals", {"currency": "EUR", "amount": amount, "reference": reference})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.content


class TestReturnOfAFailedPayout:
    """Staff giving a paid withdrawal back on "Move money…" put money into the wallet on their
    word alone that the payout failed: over the threshold or the day's allowance it waits for a
    colleague, as a deposit would (a helper's review found one clerk could return any payout)."""

    def test_over_the_threshold_it_waits_for_a_colleague_then_gives_back_once(self, client, sandbox):
        paid_out(client, 90_000, "po-big")
        outcome = alone(kind="return", amount=None, reference="po-big")
        assert outcome.result is None and outcome.waiting is not None
        waiting = outcome.waiting
        assert (waiting.kind, waiting.amount, waiting.reference, waiting.status) == (
            "return",
            90_000,
            "po-big",
            "pending",
        )
        assert balance() == 10_000 and Withdrawal.objects.get(reference="po-big").status == "approved"
        # Asked again (the form sent twice): the same request, nothing moved.
        again = alone(kind="return", amount=None, reference="po-big")
        assert again.asked_before and again.waiting.pk == waiting.pk
        with pytest.raises(FourEyesRequired):
            staff_movement_approve(movement_id=waiting.pk, staff="staff:alice", reason="mine")

        result = staff_movement_approve(movement_id=waiting.pk, staff="staff:bob", reason="bank's return seen")
        assert (result.balance, balance()) == (100_000, 100_000)
        assert Withdrawal.objects.get(reference="po-big").status == "returned"
        movement = StaffMovement.objects.get(pk=waiting.pk)
        assert movement.status == "approved" and movement.journal.memo == "bank transfer (approved by staff:bob)"
        # Returned once, whoever asks again.
        assert alone(kind="return", amount=None, reference="po-big").result.replayed
        assert balance() == 100_000 and ledger_reconcile().ok

    def test_a_payout_staff_made_is_held_too(self, client, sandbox):
        """Its reference names staff's own earlier withdrawal (a backoffice key): still a return
        to approve, not taken for that withdrawal made again."""
        movement = ask(kind="withdraw", reference="po-staff")
        staff_movement_approve(movement_id=movement.pk, staff="staff:bob", reason="payout asked for")
        assert balance() == 100_000 - ABOVE - 1
        outcome = alone(kind="return", amount=None, reference="po-staff")
        assert outcome.waiting is not None and outcome.waiting.amount == ABOVE + 1
        assert balance() == 100_000 - ABOVE - 1

    def test_under_both_it_is_given_back_at_once_and_counts_towards_the_day(self, client, allowance):
        paid_out(client, 30_000, "po-small")
        outcome = alone(kind="return", amount=None, reference="po-small")
        assert outcome.result is not None and not outcome.result.replayed
        assert (balance(), moved_today()) == (100_000, 30_000)
        paid_out(client, 45_000, "po-day-1")
        assert alone(kind="return", amount=None, reference="po-day-1").result is not None
        paid_out(client, 40_000, "po-day-2")  # under the threshold, over what is left today
        outcome = alone(kind="return", amount=None, reference="po-day-2")
        assert outcome.waiting is not None and outcome.waiting.held_because == "day_total"
        assert (balance(), moved_today()) == (60_000, 75_000)

    def test_one_that_would_move_nothing_is_answered_at_once(self, client, sandbox):
        with pytest.raises(DomainError) as refused:
            alone(kind="return", amount=None, reference="po-none")
        assert refused.value.code == "WITHDRAWAL_NOT_FOUND"
        assert not StaffMovement.objects.exists()

    def test_a_return_waiting_in_a_currency_disabled_meanwhile_is_still_approved(self, client, sandbox):
        """The player's own money coming back, as the payment system's return would be."""
        paid_out(client, 90_000, "po-retired")
        waiting = alone(kind="return", amount=None, reference="po-retired").waiting
        Currency.objects.filter(code="EUR").update(is_enabled=False)
        staff_movement_approve(movement_id=waiting.pk, staff="staff:bob", reason="bank's return seen")
        assert balance() == 100_000

    def test_from_the_form_over_the_threshold_it_waits(self, client, admin_client, sandbox):
        paid_out(client, 90_000, "po-form")
        r = move(admin_client, wallet(), kind="return", reference="po-form", reason="IBAN closed")
        assert r.status_code == 302
        (waiting,) = StaffMovement.objects.filter(kind="return")
        assert r["Location"] == reverse("admin:wallet_staffmovement_review", args=[waiting.pk])
        assert balance() == 10_000


@pytest.mark.django_db(transaction=True)
def test_a_return_asked_for_while_its_withdrawal_is_being_approved_moves_nothing(client):
    """Read pending, then approved by a colleague before the return is made: the return is
    refused from what it read, never handed to the service, which would have given the
    900.00 back on one clerk's word (a helper's review, with these threads)."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(
        staff_approval_above=ABOVE, staff_daily_allowance=1_000, withdrawal_review_above=10_000
    )
    r = call(client, "POST", "p_demo_1/withdrawals", {"currency": "EUR", "amount": 90_000, "reference": "po-race"})
    assert r.status_code == 200 and r.json()["status"] == "pending", r.content
    approval: list[object] = []

    def approve() -> None:
        try:
            approval.append(withdrawal_approve(reference="po-race", staff="staff:bob", reason="ok"))
        finally:
            connection.close()

    approver = threading.Thread(target=approve)
    with transaction.atomic():
        # The withdrawal's row lock: bob's approval takes the wallet's lock, then waits here.
        Withdrawal.objects.select_for_update().get(reference="po-race")
        approver.start()
        until_another_waits_for_a_lock(approver, "the approval")
        with pytest.raises(DomainError) as refused:
            staff_money_move(
                wallet=wallet(),
                kind="return",
                amount=None,
                staff="staff:alice",
                reason="payout failed",
                reference="po-race",
            )
    approver.join(30)
    assert refused.value.code == "WITHDRAWAL_NOT_ALLOWED" and refused.value.details == {"status": "pending"}
    assert approval and Withdrawal.objects.get(reference="po-race").status == "approved"
    assert balance() == 10_000 and not StaffMovement.objects.exists()
    # Asked again now: it waits for a colleague.
    waiting = ask(kind="return", amount=None, reference="po-race")
    assert (waiting.amount, balance()) == (90_000, 10_000)
