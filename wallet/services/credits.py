from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from casino_platform import clock
from casino_platform.db import default_database_is_postgresql
from casino_platform.errors import ValidationFailed
from ledger.idempotency import request_fingerprint
from ledger.models import Account, JournalTransaction
from ledger.selectors import currency_get, currency_not_enabled
from ledger.services import (
    Leg,
    ledger_account_get_or_create,
    ledger_account_id_cached,
    ledger_post,
    provider_clearing_key,
)
from provider.models import Provider
from sessions.errors import RoundNotFound
from sessions.models import GameSession
from sessions.services import round_get, round_record_credit, session_token_hash

from ..errors import CurrencyMismatch
from .common import (
    WalletResult,
    call_in_database,
    function_call_sql,
    run_idempotent,
    validate_amount,
    validate_transaction_id,
    wallet_apply,
    wallet_get_or_create_locked,
    wallet_lock_current,
)

CREDIT_REASONS = ("win", "cash_out", "prize", "bounty", "jackpot", "refund")
# These settle a bet and need a round with an accepted debit; the rest may open a round.
REASONS_NEEDING_DEBIT = ("win", "cash_out")
# wallet/sql/wallet_credit_v2.sql, its parameters' types in order.
CREDIT_IN_DATABASE = function_call_sql(
    "wallet_credit_v2",
    *("text", "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "bigint", "text"),
    *("text", "boolean", "text", "timestamptz", "bigint"),
)


@dataclass(frozen=True, slots=True)
class CreditRequest:
    transaction_id: str
    player_id: str
    round_id: str
    game_id: str
    amount: int  # minor units, >= 0; zero closes a lost round
    currency: str
    reason: str = "win"
    round_closed: bool = True
    session_token: str | None = None
    trace_id: str = ""


def wallet_credit(*, provider: Provider, request: CreditRequest) -> WalletResult:
    """Credit once per (provider, transaction_id). Owed money is always paid: an expired
    session, a blocked or self-excluded player and maintenance do not refuse a credit.
    Takes the player's row lock; balance, round and ledger commit together."""
    validate_transaction_id(request.transaction_id)
    validate_amount(request.amount, minimum=0)
    if request.reason not in CREDIT_REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(CREDIT_REASONS)}", details={"reason": ["invalid"]})
    payload = {
        "player_id": request.player_id,
        "round_id": request.round_id,
        "game_id": request.game_id,
        "amount": request.amount,
        "currency": request.currency,
        "reason": request.reason,
        "round_closed": request.round_closed,
    }
    if default_database_is_postgresql() and settings.WALLET_CREDIT_IN_DATABASE:
        result = _credit_in_database(provider=provider, request=request, payload=payload)
        if result is not None:
            return result
        # Handed back: the player has no wallet in this currency yet, created below.

    def work() -> WalletResult:
        currency = currency_get(code=request.currency, enabled_only=False)
        # The player before the currency's state, as the SQL function judges them. A wallet
        # opened while this waited for the player's row is locked too (wallet_lock_current):
        # used unlocked, a third movement could take it and then wait for the player's row.
        player, wallet = wallet_lock_current(player_id=request.player_id, currency=request.currency)
        if wallet is None and not currency.is_enabled:
            # Owed money is paid into a wallet of a retired currency; none opens one (no
            # money comes into a currency once disabled).
            raise currency_not_enabled(request.currency)
        if request.session_token is not None:
            # Only the currency is checked: a credit must be paid even after the session ended.
            session = GameSession.objects.filter(
                token_hash=session_token_hash(request.session_token), provider=provider
            ).first()
            if session is not None and session.currency_id != request.currency:
                raise CurrencyMismatch(f"The session plays in {session.currency_id}, not {request.currency}.")
        recorded = None
        while recorded is None:  # again if another wallet's call opened the round meanwhile
            round_obj = round_get(provider=provider, round_id=request.round_id)
            if round_obj is not None and round_obj.player_id != player.pk:
                raise RoundNotFound(f"No round {request.round_id} for player {request.player_id}.")
            # A debit rolled back no longer stands: a win on it would pay a cancelled bet.
            if request.reason in REASONS_NEEDING_DEBIT and (
                round_obj is None or round_obj.debit_count <= round_obj.rollback_count
            ):
                raise RoundNotFound(
                    f"A {request.reason} needs a round with an accepted debit that was not rolled back;"
                    f" {request.round_id} has none."
                )
            if round_obj is not None and round_obj.currency_id != request.currency:
                raise CurrencyMismatch(f"Round {request.round_id} plays in {round_obj.currency_id}.")
            opened = None
            if wallet is None:
                # Only once every refusal is behind: a refused credit opens no wallet.
                opened = transaction.savepoint()
                wallet = wallet_get_or_create_locked(player=player, currency=request.currency)
            recorded = round_record_credit(
                provider=provider,
                round_obj=round_obj,
                round_id=request.round_id,
                player=player,
                currency=request.currency,
                game_id=request.game_id,
                amount=request.amount,
                close=request.round_closed,
            )
            if opened is not None and recorded is None:
                # Another call opened the round meanwhile, and it is judged again: the wallet
                # waits for that judgement too (the player's lock, taken before, stays).
                transaction.savepoint_rollback(opened)
                wallet = None
            elif opened is not None:
                transaction.savepoint_commit(opened)
        assert wallet is not None  # opened above, before the round was recorded
        clearing = ledger_account_get_or_create(
            key=provider_clearing_key(provider_code=provider.code, currency=request.currency),
            kind=Account.Kind.PROVIDER_CLEARING,
            currency=request.currency,
        )
        balance = wallet_apply(wallet=wallet, delta=request.amount)
        journal = ledger_post(
            kind=JournalTransaction.Kind.CREDIT,
            legs=[
                Leg(wallet.account_id, request.amount, request.currency),
                Leg(clearing.pk, -request.amount, request.currency),
            ],
            created_by=f"provider:{provider.code}",
            provider_code=provider.code,
            provider_transaction_id=request.transaction_id,
            round_id=request.round_id,
            reason=request.reason,
            trace_id=request.trace_id,
        )
        return WalletResult(
            player_id=player.player_id,
            currency=request.currency,
            balance=balance,
            transaction_id=request.transaction_id,
            platform_transaction_id=str(journal.pk),
        )

    return run_idempotent(
        scope=provider.code,
        key=request.transaction_id,
        operation="credit",
        payload=payload,
        trace_id=request.trace_id,
        work=work,
    )


def _credit_in_database(*, provider: Provider, request: CreditRequest, payload: dict) -> WalletResult | None:
    """The same credit as `work()` above, run by PostgreSQL's wallet_credit_v2 in one round
    trip (wallet/sql/wallet_credit_v2.sql); None when it hands the credit back because the
    wallet must be created first. A test holds both paths to the same answers, stored records
    and ledger."""
    clearing_key = provider_clearing_key(provider_code=provider.code, currency=request.currency)
    clearing_id = ledger_account_id_cached(key=clearing_key)
    token_hash = session_token_hash(request.session_token) if request.session_token is not None else None
    return call_in_database(
        sql=CREDIT_IN_DATABASE,
        params=[
            provider.code,
            provider.pk,
            request.transaction_id,
            request_fingerprint(operation="credit", payload=payload),
            token_hash,
            request.player_id,
            repr(request.player_id),
            repr(request.currency),
            request.round_id,
            request.game_id,
            request.amount,
            request.currency,
            request.reason,
            request.round_closed,
            request.trace_id,
            clock.now(),
            clearing_id,
        ],
        clearing_key=clearing_key if clearing_id is None else None,
    )
