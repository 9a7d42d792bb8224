"""Rounds of the sandbox's games, played against a partner casino's wallet.

Each round: open it with the RNG inputs fixed, debit the partner in real time (a refusal
ends the round as refused), decide the outcome, then settle it and queue the credit in one
transaction (the outbox), so a settled round's payout is never lost."""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from casino_platform import clock
from ledger.money import MAX_AMOUNT

from ..models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer
from ..outbound.client import WalletClient
from ..outbound.services import (
    DebitAccepted,
    DebitRefused,
    outbound_credit_enqueue,
    outbound_debit,
    outbound_rollback_enqueue,
    stranded_since,
)
from . import engine
from .rng import new_server_seed

logger = logging.getLogger(__name__)

# Settled in the request that takes their stake (tables and tournaments stay open for a while).
INSTANT_GAMES = ("dice", "slot")
HOLDEM = "holdem"
# Every game a round played for a partner may be of, as "<partner's provider code>:<game>".
PARTNER_GAMES = (*INSTANT_GAMES, HOLDEM)


@dataclass(frozen=True)
class RoundPlayed:
    round: GameRound
    balance_after_debit: int
    payout: int
    credit: OutboundTransaction | None


def partner_player_get_or_create(
    *, partner: PartnerCasino, partner_player_id: str, display_name: str = ""
) -> PartnerPlayer:
    player, _ = PartnerPlayer.objects.get_or_create(
        partner=partner, partner_player_id=partner_player_id, defaults={"display_name": display_name}
    )
    return player


def _open_round(
    *,
    partner: PartnerCasino,
    player: PartnerPlayer,
    game_id: str,
    currency: str,
    stake: int,
    client_seed: str,
    server_seed: str | None,
    nonce: int,
) -> GameRound:
    return GameRound.objects.create(
        partner=partner,
        player=player,
        round_id=f"rnd-{uuid.uuid4().hex}",
        game_id=game_id,
        currency=currency,
        stake=stake,
        server_seed=server_seed or new_server_seed(),
        client_seed=client_seed,
        nonce=nonce,
    )


def _refuse(round_obj: GameRound) -> None:
    GameRound.objects.filter(pk=round_obj.pk).update(status=GameRound.Status.REFUSED, settled_at=clock.now())


def game_round_play(
    *,
    partner: PartnerCasino,
    player: PartnerPlayer,
    session_token: str,
    game: str,
    stake: int,
    currency: str,
    client_seed: str = "",
    server_seed: str | None = None,
    nonce: int = 0,
    target: int = 50,
    client: WalletClient | None = None,
) -> RoundPlayed:
    """Play one dice or slot round. Raises DebitRefused when the partner refuses the bet."""
    if game not in INSTANT_GAMES:
        raise ValueError(f"unknown game {game!r}")
    if game == "dice" and not engine.DICE_MIN_TARGET <= target <= engine.DICE_MAX_TARGET:
        raise ValueError(f"target must be {engine.DICE_MIN_TARGET}..{engine.DICE_MAX_TARGET}")
    if not 0 < stake <= engine.stake_max(game=game, target=target):
        raise ValueError(f"stake must be 1..{engine.stake_max(game=game, target=target)}")
    round_obj = _open_round(
        partner=partner,
        player=player,
        game_id=f"{partner.provider_code}:{game}",
        currency=currency,
        stake=stake,
        client_seed=client_seed or uuid.uuid4().hex[:16],
        server_seed=server_seed,
        nonce=nonce,
    )
    accepted = _debit_or_refuse(
        round_obj=round_obj, amount=stake, reason="bet", session_token=session_token, client=client
    )
    # The same computation an audit replays from the round's record.
    outcome = engine.replay(
        game=game,
        server_seed=round_obj.server_seed,
        client_seed=round_obj.client_seed,
        nonce=round_obj.nonce,
        stake=stake,
        target=target,
    )
    with transaction.atomic():
        round_obj.status, round_obj.payout, round_obj.outcome = GameRound.Status.SETTLED, outcome.payout, outcome.detail
        round_obj.settled_at = clock.now()
        settled = GameRound.objects.filter(pk=round_obj.pk, status=GameRound.Status.OPEN).update(
            status=round_obj.status, payout=round_obj.payout, outcome=round_obj.outcome, settled_at=round_obj.settled_at
        )
        if not settled:
            # Voided by the sweep while this request stalled (game_rounds_unsettled_void): its
            # rollback returns the stake, and a win paid as well would pay the round twice.
            raise DebitRefused("ROUND_VOIDED", "The round took too long to settle; the bet was refunded.")
        # A lost round is closed with a zero credit, the contract's usual way.
        credit = outbound_credit_enqueue(round_obj=round_obj, amount=outcome.payout, reason="win")
    return RoundPlayed(round_obj, accepted.balance, outcome.payout, credit)


def game_rounds_unsettled_void(*, limit: int = 100) -> int:
    """For the beat sweep: dice and slot rounds settle in the request that took their stake,
    so one still open well after it began lost that request (its process died between the
    debit and the settlement). With its stake taken, the round is void: it ends rolled back
    now and the stake goes back through a queued rollback. Without (the debit refused, or of
    unknown outcome and already being rolled back, or never written) it ends refused. A debit
    still being sent is left to outbound_debits_stranded_roll_back. Returns how many were
    voided. Table and tournament rounds stay open by design and are left alone."""
    now = clock.now()
    instant = Q()
    for game in INSTANT_GAMES:
        instant |= Q(game_id__endswith=f":{game}")
    debits = OutboundTransaction.objects.filter(round=OuterRef("pk"), kind=OutboundTransaction.Kind.DEBIT)
    stakes: list[OutboundTransaction] = []
    with transaction.atomic():
        candidates = (
            GameRound.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("partner")
            .filter(instant, status=GameRound.Status.OPEN)
            .filter(created_at__lt=now - timedelta(seconds=settings.OUTBOUND_STRANDED_AFTER_SECONDS))
            .exclude(Exists(debits.filter(status=OutboundTransaction.Status.SENDING)))
            .order_by("id")[:limit]
        )
        for round_obj in candidates:
            if stranded_since(round_obj.partner, round_obj.created_at) >= now:
                break  # this one and the later ones may still be in play
            debit = round_obj.transactions.filter(
                kind=OutboundTransaction.Kind.DEBIT, status=OutboundTransaction.Status.SUCCEEDED
            ).first()
            round_obj.settled_at = now
            if debit is None:
                round_obj.status = GameRound.Status.REFUSED
                round_obj.save(update_fields=["status", "settled_at"])
                continue
            round_obj.status = GameRound.Status.ROLLED_BACK
            round_obj.outcome = {"void": "not settled in the request that took the stake"}
            round_obj.save(update_fields=["status", "settled_at", "outcome"])
            stakes.append(debit)
            logger.error("round %s left unsettled after its debit: voided, stake rolled back", round_obj.round_id)
        # Every round before any player, and the players in the order of their keys, as the
        # stranded-debit sweep takes them: in the rounds' order two sweeps could deadlock.
        for debit in sorted(stakes, key=lambda debit: (debit.player_id, debit.pk)):
            outbound_rollback_enqueue(debit=debit)
    return len(stakes)


# --- Poker table and tournament ----------------------------------------------------------


def _debit_or_refuse(
    *,
    round_obj: GameRound,
    amount: int,
    reason: str,
    session_token: str,
    client: WalletClient | None,
    round_closed: bool = False,
) -> DebitAccepted:
    """The round's real-time debit; a refusal (or an unknown outcome) ends the round as refused."""
    try:
        return outbound_debit(
            partner=round_obj.partner,
            player=round_obj.player,
            round_obj=round_obj,
            amount=amount,
            reason=reason,
            session_token=session_token,
            round_closed=round_closed,
            client=client,
        )
    except Exception:
        _refuse(round_obj)
        raise


def poker_table_join(
    *,
    partner: PartnerCasino,
    player: PartnerPlayer,
    session_token: str,
    buy_in: int,
    currency: str,
    client: WalletClient | None = None,
) -> GameRound:
    """Sit down: a real-time `buy_in` debit. Refused buy-ins raise DebitRefused."""
    return _holdem_round_with_debit(
        partner=partner,
        player=player,
        session_token=session_token,
        amount=buy_in,
        currency=currency,
        reason="buy_in",
        client=client,
    )


def _amount_checked(name: str, amount: int, *, least: int) -> None:
    """An amount the contract can carry, checked before a round opens or settles: one it
    refuses (VALIDATION_ERROR, final) would leave a settled round whose credit is never paid."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not least <= amount <= MAX_AMOUNT:
        raise ValueError(f"{name} must be {least}..{MAX_AMOUNT} minor units, not {amount!r}")


def _holdem_round_with_debit(
    *,
    partner: PartnerCasino,
    player: PartnerPlayer,
    session_token: str,
    amount: int,
    currency: str,
    reason: str,
    client: WalletClient | None,
) -> GameRound:
    """A hold'em round (table seat or tournament entry) opened with its real-time debit."""
    _amount_checked(reason, amount, least=1)
    round_obj = _open_round(
        partner=partner,
        player=player,
        game_id=f"{partner.provider_code}:{HOLDEM}",
        currency=currency,
        stake=amount,
        client_seed="",
        server_seed=None,
        nonce=0,
    )
    _debit_or_refuse(round_obj=round_obj, amount=amount, reason=reason, session_token=session_token, client=client)
    return round_obj


@transaction.atomic
def poker_table_leave(*, round_obj: GameRound, chips: int) -> OutboundTransaction:
    """Stand up with `chips`: the `cash_out` credit is queued with the table's settlement."""
    _amount_checked("chips", chips, least=0)
    locked = _open_round_locked(round_obj)
    locked.status, locked.payout, locked.settled_at = GameRound.Status.SETTLED, chips, clock.now()
    locked.outcome = {"game": "holdem", "chips": chips}
    locked.save(update_fields=["status", "payout", "settled_at", "outcome"])
    return outbound_credit_enqueue(round_obj=locked, amount=chips, reason="cash_out")


def tournament_register(
    *,
    partner: PartnerCasino,
    player: PartnerPlayer,
    session_token: str,
    fee: int,
    currency: str,
    client: WalletClient | None = None,
) -> GameRound:
    """Register: a real-time `tournament_entry` debit. Refused entries raise DebitRefused."""
    return _holdem_round_with_debit(
        partner=partner,
        player=player,
        session_token=session_token,
        amount=fee,
        currency=currency,
        reason="tournament_entry",
        client=client,
    )


@transaction.atomic
def tournament_unregister(*, round_obj: GameRound) -> OutboundTransaction:
    """Leave before it starts: the entry fee comes back through a queued rollback."""
    locked = _open_round_locked(round_obj)
    entry = locked.transactions.get(kind=OutboundTransaction.Kind.DEBIT, status=OutboundTransaction.Status.SUCCEEDED)
    # Ended now, not when the partner accepts the rollback: a prize can no longer be paid.
    locked.status, locked.settled_at = GameRound.Status.ROLLED_BACK, clock.now()
    locked.save(update_fields=["status", "settled_at"])
    return outbound_rollback_enqueue(debit=entry)


def _open_round_locked(round_obj: GameRound) -> GameRound:
    """The round, locked, if it is still open: settling it twice would pay twice (each
    credit has its own transaction_id), and a round refunded is not paid."""
    locked = GameRound.objects.select_for_update().get(pk=round_obj.pk)
    if locked.status != GameRound.Status.OPEN:
        raise ValueError(f"round {locked.round_id} is {locked.status}")
    return locked


@transaction.atomic
def tournament_pay(*, round_obj: GameRound, prize: int = 0, bounty: int = 0) -> list[OutboundTransaction]:
    """Pay a finished tournament's prize and bounties, queued together with its settlement."""
    _amount_checked("prize", prize, least=0)
    _amount_checked("bounty", bounty, least=0)
    locked = _open_round_locked(round_obj)
    locked.status, locked.payout, locked.settled_at = GameRound.Status.SETTLED, prize + bounty, clock.now()
    locked.outcome = {"game": "tournament", "prize": prize, "bounty": bounty}
    locked.save(update_fields=["status", "payout", "settled_at", "outcome"])
    credits = []
    if bounty:
        credits.append(outbound_credit_enqueue(round_obj=locked, amount=bounty, reason="bounty", round_closed=False))
    credits.append(outbound_credit_enqueue(round_obj=locked, amount=prize, reason="prize"))
    return credits
