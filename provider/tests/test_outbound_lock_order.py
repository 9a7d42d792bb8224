"""The stranded-debit sweep beside the game's own settlements of the same player, raced on real
PostgreSQL with each call in its own thread and connection, the lock queue staged by the
test: the sweep locks a round before its player, as a settlement does, so the two never wait
for each other in a cycle. Against the fake partner over loopback."""

from datetime import timedelta

import pytest
from django.db import transaction

from casino_platform import clock
from casino_platform.tests.lock_stages import Started, until_sessions_wait
from provider.games.services import (
    partner_player_get_or_create,
    poker_table_join,
    poker_table_leave,
    tournament_register,
    tournament_unregister,
)
from provider.models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer
from provider.outbound.services import outbound_debits_stranded_roll_back, outbound_deliver
from provider.tests.conftest import DiesAfterTheCall, ProcessDied

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def seat_whose_buy_in_was_stranded(partner: PartnerCasino, player: PartnerPlayer, buy_in: int) -> GameRound:
    """A table seat whose buy-in the partner took while our sender died mid-call, long enough
    ago for the sweep: the debit is still marked as being sent and the round is open."""
    with pytest.raises(ProcessDied):
        poker_table_join(
            partner=partner,
            player=player,
            session_token="t",
            buy_in=buy_in,
            currency="EUR",
            client=DiesAfterTheCall(partner),
        )
    seat = GameRound.objects.get(transactions__kind="debit", transactions__amount=buy_in)
    OutboundTransaction.objects.filter(round=seat).update(created_at=clock.now() - timedelta(hours=1))
    return seat


def player_row_locked(player: PartnerPlayer) -> None:
    """The lock a credit or rollback takes to line up in its player's queue."""
    PartnerPlayer.objects.select_for_update().get(pk=player.pk)


def deliver_all() -> list[str]:
    """Each queued credit and rollback sent once, in its player's order."""
    queued = OutboundTransaction.objects.filter(kind__in=["credit", "rollback"]).order_by("id")
    return [outbound_deliver(outbound_id=pk).status for pk in queued.values_list("pk", flat=True)]


def test_the_sweep_and_a_settlement_of_the_same_round_wait_for_each_other_in_turn(fake_partner, partner_casino, broker):
    """The sweep takes the stranded seat's round and queues for its player; the table's leave
    of that seat then waits for the round, and a tournament unregistration of the same player
    takes its own round and queues for the player too. None deadlocks: the sweep rolls the
    buy-in back and ends the seat refused, the leave is refused on it (no cash-out for a seat
    whose buy-in is returned), the unregistration queues its refund; each rollback is queued
    once and delivered once, and the partner's balance is whole again."""
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    entry = tournament_register(partner=partner_casino, player=player, session_token="t", fee=1_000, currency="EUR")
    seat = seat_whose_buy_in_was_stranded(partner_casino, player, 2_500)
    assert fake_partner.balances["p1"] == 100_000 - 1_000 - 2_500

    with transaction.atomic():
        player_row_locked(player)
        sweep = Started(outbound_debits_stranded_roll_back, "the sweep")
        until_sessions_wait(1, "the sweep to queue for the player", calls=[sweep])
        leave = Started(lambda: poker_table_leave(round_obj=seat, chips=4_000), "the table's leave")
        until_sessions_wait(2, "the leave to wait for the seat's round", calls=[sweep, leave])
        unregister = Started(lambda: tournament_unregister(round_obj=entry), "the unregistration")
        until_sessions_wait(3, "the unregistration to queue for the player", calls=[sweep, leave, unregister])

    assert sweep.answer() == 1
    refused = leave.answer()
    assert isinstance(refused, ValueError) and str(refused) == f"round {seat.round_id} is refused", refused
    refund = unregister.answer()
    assert isinstance(refund, OutboundTransaction), refund
    assert dict(GameRound.objects.values_list("pk", "status")) == {seat.pk: "refused", entry.pk: "rolled_back"}
    buy_in, fee = (OutboundTransaction.objects.get(round=r, kind="debit").transaction_id for r in (seat, entry))
    queued = OutboundTransaction.objects.filter(kind__in=["credit", "rollback"])
    assert sorted(queued.values_list("kind", "reference_transaction_id")) == sorted(
        [("rollback", buy_in), ("rollback", fee)]
    )
    assert deliver_all() == ["succeeded", "succeeded"]
    assert all(fake_partner.applied[tx] == 1 for tx in queued.values_list("transaction_id", flat=True))
    assert fake_partner.balances["p1"] == 100_000


def test_the_sweep_of_two_stranded_seats_and_a_settlement_of_the_second_do_not_deadlock(
    fake_partner, partner_casino, broker
):
    """Two seats of one player whose buy-ins were stranded: the sweep ends both seats' rounds
    and queues for the player; the table's leave of the second seat waits for that round.
    Neither deadlocks: the sweep rolls both buy-ins back, and the leave is refused on a seat
    ended refused.

    It did deadlock while the sweep took each debit's round and then its player in turn: with
    a second debit of the same player it held the player when it came to the second round,
    which the leave held while it waited for the player."""
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    first = seat_whose_buy_in_was_stranded(partner_casino, player, 2_500)
    second = seat_whose_buy_in_was_stranded(partner_casino, player, 1_500)

    with transaction.atomic():
        player_row_locked(player)
        sweep = Started(outbound_debits_stranded_roll_back, "the sweep")
        until_sessions_wait(1, "the sweep to queue for the player", calls=[sweep])
        leave = Started(lambda: poker_table_leave(round_obj=second, chips=4_000), "the table's leave")
        until_sessions_wait(2, "the leave to queue for the seat's round", calls=[sweep, leave])

    swept, left = sweep.answer(), leave.answer()
    assert swept == 2, swept
    assert isinstance(left, ValueError) and str(left) == f"round {second.round_id} is refused", left
    assert GameRound.objects.get(pk=first.pk).status == "refused"
    rolled_back = OutboundTransaction.objects.filter(kind="rollback").values_list("reference_transaction_id", flat=True)
    stranded = OutboundTransaction.objects.filter(kind="debit").values_list("transaction_id", flat=True)
    assert sorted(rolled_back) == sorted(stranded)
