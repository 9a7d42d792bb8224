"""What our games owe a partner is never stranded: credits and rollbacks refused by a call the
partner did not process stay in line, a refused one can be sent again by staff, a debit whose
sender died mid-call is rolled back, an error of ours around a call is retried and flagged,
an answer that is not an answer to our request is not taken, and a late sender writes
nothing over its replacement. Against the fake partner over loopback; deliveries run in the
test (the Celery worker's part is covered in test_outbound_delivery) except where marked."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from casino_platform import clock
from provider.crypto import encrypt_secret
from provider.games import engine
from provider.games.services import (
    game_round_play,
    game_rounds_unsettled_void,
    partner_player_get_or_create,
    poker_table_join,
    tournament_pay,
    tournament_register,
    tournament_unregister,
)
from provider.models import GameRound, OutboundAttempt, OutboundTransaction, PartnerCasino
from provider.outbound.client import WalletClient
from provider.outbound.services import (
    DebitRefused,
    outbound_debits_stranded_roll_back,
    outbound_deliver,
    outbound_retry_now,
)
from provider.tests.conftest import DiesAfterTheCall, ProcessDied, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def play_one(partner_casino, *, game="slot", stake=100, client=None):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    return game_round_play(
        partner=partner_casino,
        player=player,
        session_token="tok",
        game=game,
        stake=stake,
        currency="EUR",
        server_seed="seed-1",
        client=client,
    )


def due_now(outbound: OutboundTransaction) -> None:
    """Its retry's slot reached, without waiting out the backoff."""
    OutboundTransaction.objects.filter(pk=outbound.pk).update(next_attempt_at=clock.now())


def deliver(outbound: OutboundTransaction) -> str:
    due_now(outbound)
    return outbound_deliver(outbound_id=outbound.pk).status


def test_a_credit_refused_while_the_partner_has_us_disabled_stays_queued_and_is_paid_once_reenabled(
    fake_partner, partner_casino, settings
):
    settings.OUTBOUND_FLAG_AFTER_ATTEMPTS = 3
    played = play_one(partner_casino)
    credit = played.credit
    fake_partner.disabled_endpoints = {"debit", "credit", "rollback"}
    assert [deliver(credit) for _ in range(3)] == ["retry"] * 3
    credit.refresh_from_db()
    assert (credit.status, credit.last_error_code, credit.attempts) == ("pending", "PROVIDER_DISABLED", 3)
    assert credit.flagged_at is not None  # staff see it waiting
    assert fake_partner.applied[credit.transaction_id] == 0
    fake_partner.disabled_endpoints = set()
    assert deliver(credit) == "succeeded"
    credit.refresh_from_db()
    assert credit.status == "succeeded" and credit.flagged_at is None
    assert fake_partner.applied[credit.transaction_id] == 1
    assert fake_partner.balances["p1"] == 100_000 - 100 + played.payout
    codes = list(OutboundAttempt.objects.filter(transaction=credit).values_list("error_code", flat=True))
    assert codes == ["PROVIDER_DISABLED"] * 3 + [""]


def test_a_credit_refused_for_our_signature_waits_until_our_secret_is_fixed(fake_partner, partner_casino):
    played = play_one(partner_casino)
    credit = played.credit
    fake_partner.secret = "rotated-at-the-partner"  # they rotated it; we still sign with the old one
    assert deliver(credit) == "retry"
    credit.refresh_from_db()
    assert (credit.status, credit.last_error_code) == ("pending", "INVALID_SIGNATURE")
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(secret_encrypted=encrypt_secret("rotated-at-the-partner"))
    assert deliver(credit) == "succeeded"
    assert fake_partner.applied[credit.transaction_id] == 1


def test_a_refused_credit_is_sent_again_by_staff_under_the_same_transaction_id(
    fake_partner, partner_casino, admin_client
):
    played = play_one(partner_casino)
    credit = played.credit
    fake_partner.refuse_credits_with = "VALIDATION_ERROR"
    assert deliver(credit) == "failed"
    credit.refresh_from_db()
    assert credit.status == "failed" and credit.flagged_at is not None
    fake_partner.refuse_credits_with = None
    # The admin's "Retry delivery now" on it: back in line, then delivered.
    answer = admin_client.post(
        reverse("admin:provider_outboundtransaction_changelist"),
        {"action": "retry_now", "_selected_action": [credit.pk]},
        follow=True,
    )
    assert "Queued 1 delivery(ies)" in answer.content.decode()
    credit.refresh_from_db()
    assert (credit.status, credit.completed_at) == ("pending", None)
    assert outbound_deliver(outbound_id=credit.pk).status == "succeeded"
    credit.refresh_from_db()
    assert credit.status == "succeeded" and credit.flagged_at is None
    assert fake_partner.applied[credit.transaction_id] == 1
    assert fake_partner.balances["p1"] == 100_000 - 100 + played.payout
    # A delivered one is not sent again.
    assert outbound_retry_now(ids=[credit.pk]) == []


def backdate(outbound: OutboundTransaction, seconds: float) -> None:
    OutboundTransaction.objects.filter(pk=outbound.pk).update(created_at=clock.now() - timedelta(seconds=seconds))


def test_a_debit_whose_sender_died_mid_call_is_rolled_back_by_the_sweep(fake_partner, partner_casino, settings):
    with pytest.raises(ProcessDied):
        play_one(partner_casino, stake=2_500, client=DiesAfterTheCall(partner_casino))
    debit = OutboundTransaction.objects.get(kind="debit")
    assert debit.status == "sending"
    assert fake_partner.balances["p1"] == 97_500  # the partner took the stake
    # Not while it may still be in flight: the partner's timeouts and the lease not yet past.
    assert outbound_debits_stranded_roll_back() == 0
    timeouts = (partner_casino.connect_timeout_ms + partner_casino.read_timeout_ms) / 1000
    backdate(debit, settings.OUTBOUND_STRANDED_AFTER_SECONDS + timeouts - 1)
    assert outbound_debits_stranded_roll_back() == 0
    backdate(debit, settings.OUTBOUND_STRANDED_AFTER_SECONDS + timeouts + 1)
    assert outbound_debits_stranded_roll_back() == 1
    assert outbound_debits_stranded_roll_back() == 0  # once
    debit.refresh_from_db()
    assert (debit.status, debit.last_error_code) == ("unknown", "OUTCOME_UNKNOWN")
    assert GameRound.objects.get().status == "refused"
    rollback = OutboundTransaction.objects.get(kind="rollback")
    assert rollback.reference_transaction_id == debit.transaction_id
    assert deliver(rollback) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000
    assert not OutboundTransaction.objects.filter(kind="credit").exists()


class SweptDuringTheCall(WalletClient):
    """The sender outlives the partner's timeouts and the lease: the sweep declares its debit
    unknown while the answer is on its way."""

    def call(self, endpoint, payload, **kwargs):
        answer = super().call(endpoint, payload, **kwargs)
        debit = OutboundTransaction.objects.get(transaction_id=payload["transaction_id"])
        backdate(debit, 3_600)
        assert outbound_debits_stranded_roll_back() == 1
        return answer


def test_a_debit_answered_after_the_sweep_rolled_it_back_stays_rolled_back(fake_partner, partner_casino):
    with pytest.raises(DebitRefused) as refused:
        play_one(partner_casino, stake=2_500, client=SweptDuringTheCall(partner_casino))
    assert refused.value.code == "OUTCOME_UNKNOWN"
    debit = OutboundTransaction.objects.get(kind="debit")
    assert debit.status == "unknown"  # the late answer did not write over it
    assert GameRound.objects.get().status == "refused"
    assert not OutboundTransaction.objects.filter(kind="credit").exists()
    (rollback,) = OutboundTransaction.objects.filter(kind="rollback")
    assert deliver(rollback) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000


def test_an_error_of_ours_around_a_call_is_retried_and_flagged_not_left_sending(fake_partner, partner_casino, settings):
    settings.OUTBOUND_FLAG_AFTER_ATTEMPTS = 2
    played = play_one(partner_casino)
    credit = played.credit
    # Written around the model's validators: requests refuses a zero timeout (ValueError).
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(read_timeout_ms=0)
    assert [deliver(credit) for _ in range(2)] == ["retry", "retry"]
    credit.refresh_from_db()
    assert (credit.status, credit.last_error_code, credit.attempts) == ("pending", "CLIENT_ERROR", 2)
    assert credit.flagged_at is not None
    assert "ValueError" in credit.last_error
    assert OutboundAttempt.objects.filter(transaction=credit, error_code="CLIENT_ERROR").count() == 2
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(read_timeout_ms=1_000)
    assert deliver(credit) == "succeeded"
    assert fake_partner.applied[credit.transaction_id] == 1


def test_a_debit_that_fails_on_our_side_is_refused_and_rolled_back(fake_partner, partner_casino):
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(read_timeout_ms=0)
    partner_casino.refresh_from_db()
    with pytest.raises(DebitRefused) as refused:
        play_one(partner_casino)
    assert refused.value.code == "OUTCOME_UNKNOWN"
    debit = OutboundTransaction.objects.get(kind="debit")
    assert (debit.status, debit.last_error_code) == ("unknown", "CLIENT_ERROR")
    assert GameRound.objects.get().status == "refused"
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(read_timeout_ms=1_000)
    rollback = OutboundTransaction.objects.get(kind="rollback")
    assert deliver(rollback) == "succeeded"
    rollback.refresh_from_db()
    assert rollback.partner_status == "tombstone"  # the debit never left
    assert fake_partner.balances["p1"] == 100_000


@pytest.mark.parametrize(
    "broken, value",
    [
        ("answer_transaction_id", "c-someone-elses"),
        ("answer_age_seconds", 301),
        ("answer_balance", "99999"),
        ("answer_balance", 2**63),  # no wallet holds it; nor could the row
    ],
)
def test_an_accepted_answer_that_is_not_an_answer_to_our_credit_is_not_taken(
    fake_partner, partner_casino, broken, value
):
    played = play_one(partner_casino)
    credit = played.credit
    setattr(fake_partner, broken, value)
    assert deliver(credit) == "retry"
    credit.refresh_from_db()
    assert (credit.status, credit.last_error_code) == ("pending", "OUTCOME_UNKNOWN")
    setattr(fake_partner, broken, None if broken != "answer_age_seconds" else 0)
    assert deliver(credit) == "succeeded"  # the same id again: the partner's replay, paid once
    assert fake_partner.applied[credit.transaction_id] == 1


def test_an_acceptance_carrying_a_nul_is_recorded_and_the_players_next_credit_follows(fake_partner, partner_casino):
    """PostgreSQL refuses NUL in text: the partner's id of an accepted credit carrying one made
    the write of the success fail, leaving the credit `sending`, unflagged, at the head of the
    player's line, so that none of their later credits was ever sent."""
    first = play_one(partner_casino).credit
    fake_partner.answer_platform_transaction_id = "pt\x00-1"
    second = play_one(partner_casino).credit  # its debit accepted so too: recorded, not a 500
    assert OutboundTransaction.objects.get(kind="debit", round=second.round).partner_transaction_id == "pt\ufffd-1"
    assert deliver(first) == "succeeded"
    assert deliver(second) == "succeeded"
    first.refresh_from_db()
    assert first.partner_transaction_id == "pt\ufffd-1"
    assert fake_partner.applied[first.transaction_id] == fake_partner.applied[second.transaction_id] == 1


def test_an_acceptance_the_row_cannot_hold_is_retried_and_flagged_not_left_in_flight(
    fake_partner, partner_casino, monkeypatch, settings
):
    """Whatever else makes the success's write fail (a value past its column) is treated like
    a failure around the call: retried, and flagged after OUTBOUND_FLAG_AFTER_ATTEMPTS."""
    from django.db import DataError

    from provider.outbound import services

    settings.OUTBOUND_FLAG_AFTER_ATTEMPTS = 1
    credit = play_one(partner_casino).credit

    def unstorable(outbound, answer):
        raise DataError("value too long for type character varying(128)")

    monkeypatch.setattr(services, "_succeeded", unstorable)
    assert deliver(credit) == "retry"
    credit.refresh_from_db()
    assert (credit.status, credit.last_error_code) == ("pending", "CLIENT_ERROR")
    assert credit.flagged_at is not None and "value too long" in credit.last_error
    monkeypatch.undo()
    assert deliver(credit) == "succeeded"  # the same id again: the partner's replay, paid once
    assert fake_partner.applied[credit.transaction_id] == 1


def test_a_debit_answered_for_another_transaction_is_rolled_back(fake_partner, partner_casino):
    fake_partner.answer_transaction_id = "d-someone-elses"
    with pytest.raises(DebitRefused) as refused:
        play_one(partner_casino, stake=700)
    assert refused.value.code == "OUTCOME_UNKNOWN"
    fake_partner.answer_transaction_id = None
    rollback = OutboundTransaction.objects.get(kind="rollback")
    assert deliver(rollback) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000


@pytest.mark.parametrize(
    "answer",
    [
        {"answer_instead": (500, "INTERNAL_ERROR")},  # the partner's bug, after its debit
        {"answer_instead": (403, "RG_LIMIT"), "answer_unsigned": True},  # a refusal nobody signed
        {"answer_instead": (402, "INSUFFICIENT_FUNDS"), "answer_age_seconds": 301},  # an old refusal
    ],
    ids=["signed-500", "unsigned-refusal", "old-refusal"],
)
def test_a_debit_answered_with_no_refusal_of_the_contract_s_is_rolled_back(fake_partner, partner_casino, answer):
    """The partner took the stake; what came back is no refusal the contract stands behind.
    Taken as final, the stake stayed with the partner: the outcome is unknown, and the debit
    is rolled back."""
    for name, value in answer.items():
        setattr(fake_partner, name, value)
    with pytest.raises(DebitRefused) as refused:
        play_one(partner_casino, stake=700)
    assert refused.value.code == "OUTCOME_UNKNOWN"
    assert fake_partner.balances["p1"] == 100_000 - 700  # taken
    fake_partner.answer_instead, fake_partner.answer_unsigned, fake_partner.answer_age_seconds = None, False, 0
    rollback = OutboundTransaction.objects.get(kind="rollback")
    assert deliver(rollback) == "succeeded"
    assert OutboundTransaction.objects.get(pk=rollback.pk).partner_status == "rolled_back"
    assert fake_partner.balances["p1"] == 100_000


def test_a_rollback_answered_for_another_player_is_sent_again(fake_partner, partner_casino):
    fake_partner.answer_instead = (500, "INTERNAL_ERROR")
    with pytest.raises(DebitRefused):
        play_one(partner_casino, stake=700)
    fake_partner.answer_instead = None
    rollback = OutboundTransaction.objects.get(kind="rollback")
    fake_partner.answer_player_id = "someone-else"
    assert deliver(rollback) == "retry"
    assert OutboundTransaction.objects.get(pk=rollback.pk).last_error_code == "OUTCOME_UNKNOWN"
    fake_partner.answer_player_id = None
    due_now(rollback)
    assert deliver(rollback) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000 and fake_partner.applied[rollback.transaction_id] == 1


class LeaseSeen(WalletClient):
    """Notes the row's lease while its call is in flight."""

    seen: list = []

    def call(self, endpoint, payload, **kwargs):
        LeaseSeen.seen.append(OutboundTransaction.objects.get(transaction_id=payload["transaction_id"]).lease_until)
        return super().call(endpoint, payload, **kwargs)


def test_a_delivery_s_lease_outlasts_the_partner_s_timeouts(fake_partner, partner_casino):
    """A partner given 40 s to answer: a lease of OUTBOUND_LEASE_SECONDS (30) ran out while
    the call still waited, and the next sweep sent the credit again."""
    credit = play_one(partner_casino).credit
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(read_timeout_ms=40_000)
    due_now(credit)
    LeaseSeen.seen = []
    before = clock.now()
    client = LeaseSeen(PartnerCasino.objects.get(pk=partner_casino.pk))
    assert outbound_deliver(outbound_id=credit.pk, client=client).status == "succeeded"
    (lease,) = LeaseSeen.seen
    connect = timedelta(milliseconds=PartnerCasino.objects.get(pk=partner_casino.pk).connect_timeout_ms)
    assert lease >= before + connect + timedelta(seconds=40)


class LeaseTakenOver(WalletClient):
    """Another sender took the row over while this one waited for its answer."""

    def call(self, endpoint, payload, **kwargs):
        answer = super().call(endpoint, payload, **kwargs)
        OutboundTransaction.objects.filter(transaction_id=payload["transaction_id"]).update(
            lease_until=clock.now() + timedelta(seconds=30)
        )
        return answer


@pytest.mark.parametrize("refuse", [False, True])
def test_a_sender_that_outlived_its_lease_writes_nothing_over_its_replacement(fake_partner, partner_casino, refuse):
    credit = play_one(partner_casino).credit
    fake_partner.refuse_credits_with = "VALIDATION_ERROR" if refuse else None
    due_now(credit)
    result = outbound_deliver(outbound_id=credit.pk, client=LeaseTakenOver(partner_casino))
    assert result.status == "superseded"
    credit.refresh_from_db()
    assert credit.status == "sending" and credit.flagged_at is None


def test_a_tournament_is_paid_once_and_not_after_its_entry_is_refunded(fake_partner, partner_casino):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")

    def register():
        return tournament_register(partner=partner_casino, player=player, session_token="t", fee=1_000, currency="EUR")

    paid = register()
    tournament_pay(round_obj=paid, prize=5_000)
    with pytest.raises(ValueError, match="is settled"):
        tournament_pay(round_obj=paid, prize=5_000)
    with pytest.raises(ValueError, match="is settled"):
        tournament_unregister(round_obj=paid)
    refunded = register()
    tournament_unregister(round_obj=refunded)
    assert GameRound.objects.get(pk=refunded.pk).status == "rolled_back"
    with pytest.raises(ValueError, match="is rolled_back"):
        tournament_pay(round_obj=refunded, prize=5_000)
    with pytest.raises(ValueError, match="is rolled_back"):
        tournament_unregister(round_obj=refunded)
    assert OutboundTransaction.objects.filter(kind="credit").count() == 1
    assert OutboundTransaction.objects.filter(kind="rollback").count() == 1
    for outbound in OutboundTransaction.objects.filter(kind__in=["credit", "rollback"]):
        assert deliver(outbound) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000 - 2_000 + 5_000 + 1_000


def test_create_partner_refuses_timeouts_out_of_range(monkeypatch):
    monkeypatch.setenv("PARTNER_SECRET", "s")
    for option in ("--connect-timeout-ms", "--read-timeout-ms"):
        for value in ("0", "60001"):
            with pytest.raises(CommandError, match=f"{option} is 1..60000"):
                call_command(
                    "create_partner",
                    "p",
                    "--base-url=http://127.0.0.1:1",
                    "--provider-code=x",
                    "--secret-env=PARTNER_SECRET",
                    f"{option}={value}",
                )
    assert not PartnerCasino.objects.exists()


@pytest.mark.concurrency
@pytest.mark.slow
def test_the_worker_delivers_a_credit_held_while_the_partner_had_us_disabled(worker, fake_partner, partner_casino):
    fake_partner.disabled_endpoints = {"credit"}  # switched off just after the bet
    played = play_one(partner_casino)
    wait_for(
        lambda: OutboundAttempt.objects.filter(transaction=played.credit, error_code="PROVIDER_DISABLED").count() >= 2,
        timeout=60,
        message="the credit retried while disabled",
    )
    fake_partner.disabled_endpoints = set()
    wait_for(
        lambda: OutboundTransaction.objects.get(pk=played.credit.pk).status == "succeeded",
        timeout=60,
        message="the credit delivered once re-enabled",
    )
    assert fake_partner.applied[played.credit.transaction_id] == 1


def backdate_round(round_id: int, seconds: float) -> None:
    GameRound.objects.filter(pk=round_id).update(created_at=clock.now() - timedelta(seconds=seconds))


def test_an_instant_round_left_unsettled_after_its_debit_is_voided_and_its_stake_returned(
    fake_partner, partner_casino, monkeypatch
):
    def dies(**kwargs):
        raise ProcessDied

    # The process dies between the partner's acceptance of the stake and the settlement.
    monkeypatch.setattr(engine, "replay", dies)
    with pytest.raises(ProcessDied):
        play_one(partner_casino, stake=3_000)
    monkeypatch.undo()
    round_obj = GameRound.objects.get()
    assert round_obj.status == "open"
    assert OutboundTransaction.objects.get(kind="debit").status == "succeeded"
    assert fake_partner.balances["p1"] == 97_000
    assert game_rounds_unsettled_void() == 0  # maybe still in play
    backdate_round(round_obj.pk, 3_600)
    assert game_rounds_unsettled_void() == 1
    assert game_rounds_unsettled_void() == 0  # once
    round_obj.refresh_from_db()
    assert round_obj.status == "rolled_back" and "void" in round_obj.outcome
    rollback = OutboundTransaction.objects.get(kind="rollback")
    assert deliver(rollback) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000
    assert not OutboundTransaction.objects.filter(kind="credit").exists()


def test_a_round_voided_while_its_request_stalled_is_not_settled_as_well(fake_partner, partner_casino, monkeypatch):
    replay = engine.replay

    def stalls_past_the_sweep(**kwargs):
        round_obj = GameRound.objects.get()
        backdate_round(round_obj.pk, 3_600)
        assert game_rounds_unsettled_void() == 1
        return replay(**kwargs)

    monkeypatch.setattr(engine, "replay", stalls_past_the_sweep)
    with pytest.raises(DebitRefused) as refused:
        play_one(partner_casino, stake=3_000)
    assert refused.value.code == "ROUND_VOIDED"
    assert GameRound.objects.get().status == "rolled_back"
    assert not OutboundTransaction.objects.filter(kind="credit").exists()
    assert deliver(OutboundTransaction.objects.get(kind="rollback")) == "succeeded"
    assert fake_partner.balances["p1"] == 100_000


def test_tables_and_tournaments_stay_open_for_the_sweep(fake_partner, partner_casino):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    seat = poker_table_join(partner=partner_casino, player=player, session_token="t", buy_in=1_000, currency="EUR")
    entry = tournament_register(partner=partner_casino, player=player, session_token="t", fee=1_000, currency="EUR")
    for round_obj in (seat, entry):
        backdate_round(round_obj.pk, 86_400)
    assert game_rounds_unsettled_void() == 0
    assert set(GameRound.objects.values_list("status", flat=True)) == {"open"}


def test_rounds_left_open_without_a_stake_taken_end_refused_and_hold_up_no_others(fake_partner, partner_casino):
    """Each sweep takes the oldest first: rounds it could not end would, a hundred of them,
    stop it from ever voiding another."""
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")

    def open_round(n, *, debit=None):
        round_obj = GameRound.objects.create(
            partner=partner_casino, player=player, round_id=f"r{n}", game_id="ourgames:dice", currency="EUR", stake=10
        )
        if debit:
            OutboundTransaction.objects.create(
                partner=partner_casino,
                player=player,
                round=round_obj,
                transaction_id=f"d-{n}",
                kind="debit",
                reason="bet",
                amount=10,
                currency="EUR",
                status=debit,
            )
        backdate_round(round_obj.pk, 3_600)
        return round_obj

    # Died before the refusal was written; before the debit was; after the stake was taken;
    # and one whose debit is still being sent (the stranded-debit sweep's).
    open_round(1, debit="failed")
    open_round(2)
    open_round(3, debit="succeeded")
    open_round(4, debit="sending")
    assert [game_rounds_unsettled_void(limit=1) for _ in range(4)] == [0, 0, 1, 0]
    statuses = dict(GameRound.objects.values_list("round_id", "status"))
    assert statuses == {"r1": "refused", "r2": "refused", "r3": "rolled_back", "r4": "open"}
    assert list(
        OutboundTransaction.objects.filter(kind="rollback").values_list("reference_transaction_id", flat=True)
    ) == ["d-3"]


def test_a_refusal_carrying_a_nul_is_recorded_not_left_in_flight(fake_partner, partner_casino):
    """PostgreSQL refuses NUL in text: a code carrying one made the write of the refusal fail,
    and the credit stayed `sending`, re-sent at every lease's end and never flagged."""
    played = play_one(partner_casino)
    fake_partner.answer_instead = (409, "NO\x00PE")
    assert deliver(played.credit) == "failed"
    credit = OutboundTransaction.objects.get(pk=played.credit.pk)
    assert (credit.status, credit.last_error_code) == ("failed", "NO\ufffdPE")
    assert credit.flagged_at is not None
    assert OutboundAttempt.objects.get(transaction=credit).error_code == "NO\ufffdPE"


def test_amounts_the_contract_cannot_carry_are_refused_before_a_round_opens_or_settles(fake_partner, partner_casino):
    """A credit the partner refuses as VALIDATION_ERROR is final: the round would be settled
    and its payout never paid. Refused here first, and nothing is written."""
    from ledger.money import MAX_AMOUNT
    from provider.games.services import poker_table_leave

    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    with pytest.raises(ValueError, match="buy_in must be 1"):
        poker_table_join(partner=partner_casino, player=player, session_token="t", buy_in=0, currency="EUR")
    assert not GameRound.objects.exists()
    seat = poker_table_join(partner=partner_casino, player=player, session_token="t", buy_in=1_000, currency="EUR")
    for chips in (-1, MAX_AMOUNT + 1, True):
        with pytest.raises(ValueError, match="chips must be 0"):
            poker_table_leave(round_obj=seat, chips=chips)
    entry = tournament_register(partner=partner_casino, player=player, session_token="t", fee=500, currency="EUR")
    with pytest.raises(ValueError, match="prize must be 0"):
        tournament_pay(round_obj=entry, prize=MAX_AMOUNT + 1, bounty=1)
    assert set(GameRound.objects.values_list("status", flat=True)) == {"open"}
    assert not OutboundTransaction.objects.filter(kind="credit").exists()


def test_a_casino_served_under_a_path_of_its_own_gets_requests_signed_for_it(fake_partner, partner_casino):
    """The signature covers the path as sent: under https://host/casino the casino sees, and
    checks, /casino/api/v1/wallet/... (a signature over /api/v1/wallet/... alone was refused,
    every debit with it, every credit retried for ever)."""
    PartnerCasino.objects.filter(pk=partner_casino.pk).update(base_url=fake_partner.url + "/casino/")
    partner_casino.refresh_from_db()
    answer = WalletClient(partner_casino).call("balance", {"session_token": "tok"})
    assert answer.accepted, answer.body
    played = play_one(partner_casino)
    assert deliver(played.credit) == "succeeded"
