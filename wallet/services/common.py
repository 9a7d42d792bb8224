"""What every wallet write shares: request validation, the idempotent runner, wallet rows."""

import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import DatabaseError, connection, transaction

from casino_platform import clock
from casino_platform.db import aware_datetime, thread_connection
from casino_platform.errors import DomainError, ValidationFailed, error_class_for_code
from ledger.idempotency import idempotency_claim, idempotency_store, request_fingerprint
from ledger.models import Account, IdempotencyRecord
from ledger.money import MAX_AMOUNT
from ledger.services import ledger_account_get_or_create, ledger_account_id_remember
from players.models import Player
from players.services import player_lock

from ..errors import InsufficientFunds
from ..models import Wallet

TRANSACTION_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")  # \Z: $ would let a trailing newline through


@dataclass(frozen=True, slots=True)
class WalletResult:
    """A wallet call's answer; `balance` is minor units after the operation."""

    player_id: str
    currency: str
    balance: int
    transaction_id: str | None = None
    platform_transaction_id: str | None = None
    status: str | None = None  # rollbacks: rolled_back | already_rolled_back | tombstone
    replayed: bool = False

    def as_body(self) -> dict[str, Any]:
        # Every answer's body: plain attribute reads (dataclasses.asdict deep-copies, and showed
        # up in the debit's profile).
        body: dict[str, Any] = {"player_id": self.player_id, "currency": self.currency, "balance": self.balance}
        for name in ("transaction_id", "platform_transaction_id", "status"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


def validate_transaction_id(value: object, field: str = "transaction_id") -> str:
    if not isinstance(value, str) or not TRANSACTION_ID_RE.match(value):
        raise ValidationFailed(
            f"{field} must be 1-128 characters of A-Za-z0-9._:-",
            details={field: ["1-128 characters of A-Za-z0-9._:-"]},
        )
    return value


def validate_amount(value: object, *, minimum: int) -> int:
    # bool is an int subclass and a float is never money: both are refused.
    if type(value) is not int or value < minimum or value > MAX_AMOUNT:
        raise ValidationFailed(
            f"amount must be an integer in minor units between {minimum} and 10^15",
            details={"amount": [f"an integer between {minimum} and 10^15"]},
        )
    return value


def replay(record: IdempotencyRecord) -> WalletResult:
    """The stored first answer: a result, or the same error raised again."""
    body = dict(record.response_body or {})
    if record.response_status == 200:
        return WalletResult(**body, replayed=True)
    error = error_class_for_code(body["code"])(body.get("message"), details=body.get("details"))
    error.replayed = True
    error.original_trace_id = body.get("trace_id")
    raise error


def run_idempotent(
    *,
    scope: str,
    key: str,
    operation: str,
    payload: dict[str, Any],
    trace_id: str,
    work: Callable[[], WalletResult],
) -> WalletResult:
    """Run `work` once per (scope, key) in one durable transaction, storing its final answer.

    `work` must raise its business errors before it writes anything: the refusal is then
    committed as the key's answer with nothing else. Retryable errors are not stored."""
    fingerprint = request_fingerprint(operation=operation, payload=payload)
    refusal: DomainError | None = None
    with transaction.atomic(durable=True):
        claim = idempotency_claim(scope=scope, key=key, operation=operation, fingerprint=fingerprint)
        if claim.existing is not None:
            return replay(claim.existing)
        assert claim.record_id is not None
        try:
            result = work()
        except DomainError as exc:
            if exc.retryable or isinstance(exc, ValidationFailed):
                raise  # not a final business answer: rolls the claim back, a retry is evaluated afresh
            body = exc.as_body(trace_id)
            idempotency_store(record_id=claim.record_id, status=exc.http_status, body=body)
            refusal = exc
        else:
            idempotency_store(record_id=claim.record_id, status=200, body=result.as_body())
            return result
    raise refusal


def function_call_sql(function: str, *types: str) -> str:
    """The statement calling one of the wallet's PostgreSQL functions, built once at import."""
    return f"SELECT {function}({', '.join(f'%s::{t}' for t in types)})"


# The SQLSTATE with which a wallet function hands a call to its predecessor (wallet/sql/).
HANDED_BACK = "CW001"


def call_in_database(
    *, sql: str, params: list[Any], clearing_key: str | None, handed_back_to: str | None = None
) -> WalletResult | None:
    """Run one of the wallet's PostgreSQL functions (wallet/sql/) and turn its answer into the
    Python path's: a result, a replay, or the same error raised. None when the function
    handed the call back to the Python path (it wrote nothing then). A function that raises
    HANDED_BACK has undone itself and wants `handed_back_to` (the same parameters) to answer.
    `clearing_key` names the clearing account whose id the caller did not know yet, to
    remember the one the function found or created."""
    try:
        answer = _call_function(sql, params)
    except DatabaseError as exc:
        if handed_back_to is None or getattr(exc.__cause__, "sqlstate", None) != HANDED_BACK:
            raise
        answer = _call_function(handed_back_to, params)
    if answer.get("fallback"):
        return None
    status, body = answer["status"], answer["body"]
    if answer["replayed"]:
        return replay(IdempotencyRecord(response_status=status, response_body=body))
    if status == 200:
        if clearing_key is not None:
            ledger_account_id_remember(key=clearing_key, account_id=answer["clearing_account_id"])
        return WalletResult(**body)
    raise error_class_for_code(body["code"])(body["message"], details=body.get("details"))


def _call_function(sql: str, params: list[Any]) -> dict[str, Any]:
    # In autocommit the function is the whole transaction and the call the only round trip;
    # inside a block, as run_idempotent: a money movement is its own durable transaction,
    # never part of a caller's.
    # This thread's connection looked up once: each attribute read through the `connection`
    # proxy looks it up again, and that lookup costs more than the attribute.
    db = thread_connection()
    durable = transaction.atomic(durable=True) if db.in_atomic_block else nullcontext()
    with durable:
        # Prepared once per connection, through libpq (casino_platform/postgresql/base.py says why).
        answer = db.fetch_text(sql, params)  # type: ignore[attr-defined]
    return orjson.loads(answer)


def wallet_lock(
    *, currency: str, player_pk: int | None = None, player_id: str | None = None
) -> tuple[Player, Wallet | None]:
    """Lock the player's wallet in `currency` and the player's row in one statement (rows are
    locked in FROM order, wallet then player, every time) and return both as they are now.
    Every movement of a player's money takes this lock first; with no wallet in that
    currency yet, only the player's row is locked."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("wallet_lock() must run inside a transaction")
    wallets, players = Wallet._meta.db_table, Player._meta.db_table
    where = "p.id = %s" if player_pk is not None else "p.player_id = %s"
    lock = " FOR UPDATE OF w, p" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        # Plain SQL: this is every bet's lock, and the ORM's query building costs more than it.
        cursor.execute(
            f"SELECT w.id, w.balance, w.account_id, p.id, p.player_id, p.display_name, p.country, p.status,"
            f" p.self_excluded_until, p.timed_out_until, p.has_bet_limits, p.kyc_status, p.self_exclusion_resumes_at"
            f" FROM {wallets} w JOIN {players} p ON p.id = w.player_id WHERE {where} AND w.currency = %s{lock}",
            [player_pk if player_pk is not None else player_id, currency],
        )
        row = cursor.fetchone()
    if row is None:
        return player_lock(player_id=player_id, pk=player_pk), None
    player = Player(
        id=row[3],
        player_id=row[4],
        display_name=row[5],
        country=row[6],
        status=row[7],
        self_excluded_until=aware_datetime(row[8]),
        timed_out_until=aware_datetime(row[9]),
        has_bet_limits=bool(row[10]),
        kyc_status=row[11],
        self_exclusion_resumes_at=aware_datetime(row[12]),
    )
    wallet = Wallet(id=row[0], player_id=row[3], currency_id=currency, balance=int(row[1]), account_id=row[2])
    wallet.player = player
    return player, wallet


def wallet_lock_current(*, player_id: str, currency: str) -> tuple[Player, Wallet | None]:
    """`wallet_lock` for a caller that decides on the wallet's absence (a withdrawal's funds
    check). With no wallet, only the player's row is locked, and a wallet created while this
    waited for that row would be missed: it is then locked again, in the usual order."""
    savepoint = transaction.savepoint()
    player, wallet = wallet_lock(player_id=player_id, currency=currency)
    if wallet is None and Wallet.objects.filter(player=player, currency_id=currency).exists():
        # Rolling back to the savepoint releases the player's row lock taken after it, so the
        # second lock takes wallet then player like every other movement.
        transaction.savepoint_rollback(savepoint)
        return wallet_lock(player_id=player_id, currency=currency)
    transaction.savepoint_commit(savepoint)
    return player, wallet


def wallet_account_key(*, player: Player, currency: str) -> str:
    return f"wallet:{player.player_id}:{currency}"


def wallet_get_or_create_locked(*, player: Player, currency: str) -> Wallet:
    """The player's wallet in `currency`, created with its ledger account if missing.
    Caller holds the player lock, so no one else creates it concurrently."""
    wallet = Wallet.objects.filter(player=player, currency_id=currency).first()
    if wallet is not None:
        return wallet
    account = ledger_account_get_or_create(
        key=wallet_account_key(player=player, currency=currency),
        kind=Account.Kind.PLAYER_WALLET,
        currency=currency,
        name=f"Wallet of {player.player_id} in {currency}",
    )
    return Wallet.objects.create(player=player, currency_id=currency, account=account)


def wallet_apply(*, wallet: Wallet, delta: int) -> int:
    """Change the cached balance by `delta`; never below zero. Returns the new balance.
    The guard in the UPDATE holds even if a caller forgot the funds check."""
    if delta == 0:
        return wallet.balance
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Wallet._meta.db_table} SET balance = balance + %s, updated_at = %s"
            " WHERE id = %s AND balance + %s >= 0 RETURNING balance",
            [delta, clock.now(), wallet.pk, delta],
        )
        row = cursor.fetchone()
    if row is None:
        raise InsufficientFunds()
    wallet.balance = int(row[0])
    return wallet.balance
