from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError

from casino_platform import clock
from casino_platform.db import default_database_is_postgresql
from casino_platform.errors import ServiceUnavailable
from ledger.idempotency import request_fingerprint
from ledger.models import Account, Entry, JournalTransaction
from ledger.services import Leg, ledger_account_get_or_create, ledger_post, provider_clearing_key
from players.models import Player
from players.services import player_lock
from provider.models import Provider
from sessions.models import Round
from sessions.services import round_get, round_record_rollback

from ..errors import RollbackNotAllowed
from ..models import RollbackTombstone, Wallet
from .common import (
    WalletResult,
    call_in_database,
    function_call_sql,
    run_idempotent,
    validate_transaction_id,
    wallet_apply,
    wallet_lock,
)

ROLLED_BACK = "rolled_back"
ALREADY_ROLLED_BACK = "already_rolled_back"
TOMBSTONE = "tombstone"
# wallet/sql/wallet_rollback_v1.sql, its parameters' types in order.
ROLLBACK_IN_DATABASE = function_call_sql(
    "wallet_rollback_v1", "text", "bigint", "text", "text", "text", "text", "text", "text", "text", "timestamptz"
)


@dataclass(frozen=True, slots=True)
class RollbackRequest:
    transaction_id: str
    reference_transaction_id: str
    player_id: str
    round_id: str
    trace_id: str = ""


def _reported_balance(*, player: Player, round_obj: Round | None) -> tuple[str, int]:
    """The currency and balance a tombstone answers with (every success carries both): the
    player's wallet in the round's currency, else their first wallet, else nothing in the
    round's currency. Only a player with no wallet, naming no known round, gets ""."""
    wallets = Wallet.objects.filter(player=player).order_by("created_at", "pk")
    wallet = None
    if round_obj is not None:
        wallet = wallets.filter(currency_id=round_obj.currency_id).first()
    wallet = wallet or wallets.first()
    if wallet is not None:
        return wallet.currency_id, wallet.balance
    return (round_obj.currency_id if round_obj is not None else ""), 0


def wallet_rollback(*, provider: Provider, request: RollbackRequest) -> WalletResult:
    """Cancel one debit in full, once per (provider, transaction_id) and at most once per debit
    (the journal's unique `reverses` enforces the latter). An unknown reference leaves a
    tombstone that refuses the debit if it arrives later. Takes the player's row lock."""
    validate_transaction_id(request.transaction_id)
    validate_transaction_id(request.reference_transaction_id, "reference_transaction_id")
    payload = {
        "reference_transaction_id": request.reference_transaction_id,
        "player_id": request.player_id,
        "round_id": request.round_id,
    }
    if default_database_is_postgresql() and settings.WALLET_ROLLBACK_IN_DATABASE:
        result = call_in_database(
            sql=ROLLBACK_IN_DATABASE,
            params=[
                provider.code,
                provider.pk,
                request.transaction_id,
                request_fingerprint(operation="rollback", payload=payload),
                request.reference_transaction_id,
                request.player_id,
                repr(request.player_id),
                request.round_id,
                request.trace_id,
                clock.now(),
            ],
            clearing_key=None,
        )
        if result is not None:
            return result
        # Handed back: the debit is not in the journal (a tombstone, or a debit being booked).

    def find_debit() -> JournalTransaction | None:
        return JournalTransaction.objects.filter(
            provider_code=provider.code, provider_transaction_id=request.reference_transaction_id
        ).first()

    def work() -> WalletResult:
        # Journal rows and a round's currency never change, so they may be read before the
        # lock; the wallet (then player) lock is then taken in the order every movement uses.
        debit = find_debit()
        known_round = round_get(provider=provider, round_id=debit.round_id if debit else request.round_id)
        if known_round is not None:
            player, _ = wallet_lock(player_id=request.player_id, currency=known_round.currency_id)
        else:
            player = player_lock(player_id=request.player_id)
        if debit is None and (debit := find_debit()) is not None:
            # The debit committed while we waited for the lock. If that lock did not cover its
            # wallet, take the wallet's now only if it is free: taking it after the player's
            # reverses the usual order, and a debit holding it would deadlock with us.
            round_now = round_get(provider=provider, round_id=debit.round_id)
            if round_now is not None and (known_round is None or known_round.currency_id != round_now.currency_id):
                try:
                    list(
                        Wallet.objects.select_for_update(nowait=True).filter(
                            player=player, currency_id=round_now.currency_id
                        )
                    )
                except DatabaseError:
                    raise ServiceUnavailable("The referenced debit is being booked right now; retry.") from None
        if debit is None:
            RollbackTombstone.objects.get_or_create(
                provider_code=provider.code,
                transaction_id=request.reference_transaction_id,
                defaults={"rollback_transaction_id": request.transaction_id, "player_id_text": player.player_id},
            )
            currency, balance = _reported_balance(
                player=player, round_obj=round_get(provider=provider, round_id=request.round_id)
            )
            return WalletResult(
                player_id=player.player_id,
                currency=currency,
                balance=balance,
                transaction_id=request.transaction_id,
                status=TOMBSTONE,
            )
        if debit.kind != JournalTransaction.Kind.DEBIT:
            raise RollbackNotAllowed(f"{request.reference_transaction_id} is a {debit.kind}; only debits roll back.")
        round_obj = round_get(provider=provider, round_id=debit.round_id)
        if round_obj is None or round_obj.player_id != player.pk:
            raise RollbackNotAllowed(f"{request.reference_transaction_id} is not a debit of {player.player_id}.")
        if request.round_id != debit.round_id:
            raise RollbackNotAllowed(f"{request.reference_transaction_id} belongs to round {debit.round_id}.")
        wallet = Wallet.objects.get(player=player, currency_id=round_obj.currency_id)
        reversal = JournalTransaction.objects.filter(reverses=debit).first()
        if reversal is not None:
            return WalletResult(
                player_id=player.player_id,
                currency=wallet.currency_id,
                balance=wallet.balance,
                transaction_id=request.transaction_id,
                platform_transaction_id=str(reversal.pk),
                status=ALREADY_ROLLED_BACK,
            )
        if round_obj.credit_count > 0:
            raise RollbackNotAllowed(f"Round {debit.round_id} already has a credit; its debits cannot roll back.")
        amount = -Entry.objects.get(transaction=debit, account_id=wallet.account_id).amount
        clearing = ledger_account_get_or_create(
            key=provider_clearing_key(provider_code=provider.code, currency=wallet.currency_id),
            kind=Account.Kind.PROVIDER_CLEARING,
            currency=wallet.currency_id,
        )
        balance = wallet_apply(wallet=wallet, delta=amount)
        round_record_rollback(round_obj=round_obj, amount=amount)
        journal = ledger_post(
            kind=JournalTransaction.Kind.ROLLBACK,
            legs=[
                Leg(wallet.account_id, amount, wallet.currency_id),
                Leg(clearing.pk, -amount, wallet.currency_id),
            ],
            created_by=f"provider:{provider.code}",
            provider_code=provider.code,
            provider_transaction_id=request.transaction_id,
            round_id=debit.round_id,
            reason="rollback",
            reverses=debit,
            trace_id=request.trace_id,
        )
        return WalletResult(
            player_id=player.player_id,
            currency=wallet.currency_id,
            balance=balance,
            transaction_id=request.transaction_id,
            platform_transaction_id=str(journal.pk),
            status=ROLLED_BACK,
        )

    return run_idempotent(
        scope=provider.code,
        key=request.transaction_id,
        operation="rollback",
        payload=payload,
        trace_id=request.trace_id,
        work=work,
    )
