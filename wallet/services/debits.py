from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from casino_platform import clock
from casino_platform.db import default_database_is_postgresql
from casino_platform.errors import Maintenance, ValidationFailed
from ledger.idempotency import request_fingerprint
from ledger.models import Account, JournalTransaction
from ledger.services import (
    Leg,
    ledger_account_id,
    ledger_account_id_cached,
    ledger_post,
    provider_clearing_key,
)
from players.errors import ResponsibleGamblingLimit
from players.models import BET_LIMITS, LossLimit, PeriodLimit, Player, WagerLimit
from players.services import player_assert_may_bet
from provider.errors import GameNotFound
from provider.models import Provider
from sessions.errors import RoundClosed, SessionNotFound
from sessions.models import PlatformSwitch
from sessions.services import (
    game_get_enabled,
    platform_switch_is_on,
    round_debit_upsert,
    round_get,
    session_resolve,
    session_token_hash,
)

from ..errors import CurrencyMismatch, InsufficientFunds, TransactionRolledBack
from ..models import Wallet
from ..selectors import period_limit_crossed, tombstone_exists, wallet_net_losses, wallet_wagers
from .common import (
    WalletResult,
    call_in_database,
    function_call_sql,
    run_idempotent,
    validate_amount,
    validate_transaction_id,
    wallet_apply,
    wallet_lock,
)

DEBIT_REASONS = ("bet", "buy_in", "tournament_entry")
# wallet/sql/wallet_debit_v3.sql and v1, which v3 hands its refusals under the lock to: the
# same parameters, their types in order.
DEBIT_PARAMETER_TYPES = (
    *("text", "bigint", "text", "text", "text", "text", "text", "text", "text", "bigint", "text", "text"),
    *("boolean", "text", "timestamptz", "boolean", "bigint", "integer"),
)
DEBIT_FUNCTION = "wallet_debit_v3"  # the provider debit's function; bench/ calls the same
DEBIT_IN_DATABASE = function_call_sql(DEBIT_FUNCTION, *DEBIT_PARAMETER_TYPES)
DEBIT_HANDED_BACK = function_call_sql("wallet_debit_v1", *DEBIT_PARAMETER_TYPES)


@dataclass(frozen=True, slots=True)
class DebitRequest:
    transaction_id: str
    round_id: str
    game_id: str
    amount: int  # minor units, > 0
    currency: str
    reason: str = "bet"
    round_closed: bool = False
    session_token: str | None = None  # required from providers; None only for trusted callers
    player_id: str | None = None  # taken from the session when a token is given
    trace_id: str = ""


# What each limit a debit is held against counts, and what its refusal calls that sum (the
# debit's SQL function words it the same).
_BET_LIMIT_SUMS: dict[type[PeriodLimit], tuple[Callable[..., dict[str, int]], str]] = {
    LossLimit: (wallet_net_losses, "the {period} loss"),
    WagerLimit: (wallet_wagers, "the {period}'s wagers"),
}


def _check_bet_limits(*, player: Player, wallet: Wallet, amount: int, now: datetime) -> None:
    """What each limited period has lost (loss limits), then wagered (wager limits), plus this
    bet, must stay within the limit in force. Runs under the player lock, so two sessions
    cannot cross it together."""
    for model in BET_LIMITS:
        used, sum_named = _BET_LIMIT_SUMS[model]
        crossed = period_limit_crossed(
            model=model, player=player, currency=wallet.currency_id, wallet=wallet, amount=amount, now=now, used=used
        )
        if crossed is not None:
            raise ResponsibleGamblingLimit(
                f"This bet would take {sum_named.format(period=crossed.period)} to {crossed.so_far + amount}, "
                f"over the limit of {crossed.limit} {wallet.currency_id}."
            )


def _raise_if_round_refuses(*, provider: Provider, request: DebitRequest, player: Player) -> None:
    round_obj = round_get(provider=provider, round_id=request.round_id)
    if round_obj is None:
        return
    if round_obj.player_id != player.pk:
        raise ValidationFailed("round_id belongs to another player.", details={"round_id": ["not yours"]})
    if round_obj.game_id != request.game_id:
        # A round is one game's: its bets and wins are that game's in the reports.
        raise ValidationFailed(
            f"round_id belongs to another game, {round_obj.game_id}.", details={"round_id": ["of another game"]}
        )
    if round_obj.is_closed:
        raise RoundClosed(f"Round {request.round_id} is closed.")
    if round_obj.currency_id != request.currency:
        raise CurrencyMismatch(f"Round {request.round_id} plays in {round_obj.currency_id}.")


def wallet_debit(*, provider: Provider, request: DebitRequest) -> WalletResult:
    """Debit once per (provider, transaction_id); a repeat returns the stored outcome.

    Checks in the contract's order (session, player status and RG limits, round open, funds)
    under the player's row lock; the balance, round and ledger commit together."""
    validate_transaction_id(request.transaction_id)
    validate_amount(request.amount, minimum=1)
    if request.reason not in DEBIT_REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(DEBIT_REASONS)}", details={"reason": ["invalid"]})
    if request.session_token is None and request.player_id is None:
        raise ValidationFailed("A debit needs a session_token.", details={"session_token": ["required"]})
    payload = {
        "round_id": request.round_id,
        "game_id": request.game_id,
        "amount": request.amount,
        "currency": request.currency,
        "reason": request.reason,
        "round_closed": request.round_closed,
        "player_id": request.player_id,
    }
    if request.session_token is not None:
        payload["session_token_sha256"] = session_token_hash(request.session_token)
        if default_database_is_postgresql() and settings.WALLET_DEBIT_IN_DATABASE:
            return _debit_in_database(provider=provider, request=request, payload=payload)

    def work() -> WalletResult:
        # Checked after the idempotency claim: a retried debit that already succeeded still
        # gets its stored answer during maintenance; a new one is refused, retryable, unstored.
        if platform_switch_is_on(PlatformSwitch.Name.MAINTENANCE):
            raise Maintenance("Debits are paused for maintenance; retry later.")
        now = clock.now()
        if request.session_token is not None:
            session = session_resolve(token=request.session_token, provider=provider)
            if session.game.game_id != request.game_id:
                raise SessionNotFound(f"The session was launched for {session.game.game_id}, not {request.game_id}.")
            if not session.game.is_enabled:
                raise GameNotFound(f"Game {request.game_id} is disabled.")
            if session.currency_id != request.currency:
                raise CurrencyMismatch(f"The session plays in {session.currency_id}, not {request.currency}.")
            player, wallet = wallet_lock(player_pk=session.player_id, currency=request.currency)
            if request.player_id is not None and request.player_id != player.player_id:
                raise SessionNotFound("The session belongs to another player.")
        else:
            assert request.player_id is not None
            game_get_enabled(game_id=request.game_id, provider=provider)
            player, wallet = wallet_lock(player_id=request.player_id, currency=request.currency)
        player_id = player.player_id
        # Under the player's lock: a rollback that arrived first has left its tombstone.
        if tombstone_exists(provider_code=provider.code, transaction_id=request.transaction_id):
            raise TransactionRolledBack()
        player_assert_may_bet(player=player, now=now)
        if wallet is None:
            raise CurrencyMismatch(f"Player {player_id} has no {request.currency} wallet.")
        if player.has_bet_limits:
            _check_bet_limits(player=player, wallet=wallet, amount=request.amount, now=now)
        if wallet.balance < request.amount:
            # The contract puts "round open" before "funds": say why the round refuses, if it does.
            _raise_if_round_refuses(provider=provider, request=request, player=player)
            raise InsufficientFunds(f"Balance {wallet.balance} is below the debit of {request.amount}.")
        # Every check passed but the round's; the round write checks it, writing nothing if closed.
        if not round_debit_upsert(
            provider=provider,
            round_id=request.round_id,
            player=player,
            currency=request.currency,
            game_id=request.game_id,
            amount=request.amount,
            close=request.round_closed,
        ):
            _raise_if_round_refuses(provider=provider, request=request, player=player)
            raise AssertionError("round upsert refused an open round")  # pragma: no cover
        clearing_id = ledger_account_id(
            key=provider_clearing_key(provider_code=provider.code, currency=request.currency),
            kind=Account.Kind.PROVIDER_CLEARING,
            currency=request.currency,
        )
        balance = wallet_apply(wallet=wallet, delta=-request.amount)
        journal = ledger_post(
            kind=JournalTransaction.Kind.DEBIT,
            legs=[
                Leg(wallet.account_id, -request.amount, request.currency),
                Leg(clearing_id, request.amount, request.currency),
            ],
            created_by=f"provider:{provider.code}",
            provider_code=provider.code,
            provider_transaction_id=request.transaction_id,
            round_id=request.round_id,
            reason=request.reason,
            trace_id=request.trace_id,
            # Booked in the period its limits were judged in, as the database's debit does.
            created_at=now,
        )
        return WalletResult(
            player_id=player_id,
            currency=request.currency,
            balance=balance,
            transaction_id=request.transaction_id,
            platform_transaction_id=str(journal.pk),
        )

    return run_idempotent(
        scope=provider.code,
        key=request.transaction_id,
        operation="debit",
        payload=payload,
        trace_id=request.trace_id,
        work=work,
    )


def _debit_in_database(*, provider: Provider, request: DebitRequest, payload: dict) -> WalletResult:
    """The same debit as `work()` above, run by PostgreSQL's wallet_debit_v3 in one round trip
    (wallet/sql/wallet_debit_v3.sql): the provider's hot path. A refusal judged under the
    wallet lock takes a second, wallet_debit_v1, which stores it. A test holds them to the
    same answers, stored records and ledger as the Python path."""
    assert request.session_token is not None
    # Never looked up nor created here: given none, the function finds or creates it with the
    # first accepted debit, as the Python path does, so a refused request leaves nothing.
    clearing_key = provider_clearing_key(provider_code=provider.code, currency=request.currency)
    clearing_id = ledger_account_id_cached(key=clearing_key)
    answer = call_in_database(
        sql=DEBIT_IN_DATABASE,
        params=[
            provider.code,
            provider.pk,
            request.transaction_id,
            "debit",
            request_fingerprint(operation="debit", payload=payload),
            payload["session_token_sha256"],
            request.player_id,
            request.round_id,
            request.game_id,
            request.amount,
            request.currency,
            request.reason,
            request.round_closed,
            request.trace_id,
            clock.now(),
            platform_switch_is_on(PlatformSwitch.Name.MAINTENANCE),
            clearing_id,
            settings.SESSION_IDLE_TIMEOUT_SECONDS,
        ],
        clearing_key=clearing_key if clearing_id is None else None,
        handed_back_to=DEBIT_HANDED_BACK,
    )
    assert answer is not None, "the debit functions never hand a debit to the Python path"
    return answer
