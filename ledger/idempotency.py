"""Idempotency keys: the first final answer to (scope, key) is stored and replayed.

`idempotency_claim` inserts the key at the start of the caller's transaction. A concurrent
duplicate's INSERT waits on the unique index until the first commits (then it replays the
stored answer) or rolls back (then it proceeds as the first). Retryable failures roll the
claim back, so a retry is evaluated afresh.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connection, transaction

from casino_platform import clock

from .errors import IdempotencyMismatch
from .models import IdempotencyRecord


def request_fingerprint(*, operation: str, payload: dict[str, Any]) -> str:
    """What a key's later requests must match: the operation and its payload. One recipe for
    every path that claims keys, so a retry is recognised whichever path answers it."""
    return hashlib.sha256(orjson.dumps({"operation": operation, **payload}, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    record_id: int | None  # set when this call owns the key
    existing: IdempotencyRecord | None  # set when an earlier call already answered


def idempotency_claim(*, scope: str, key: str, operation: str, fingerprint: str) -> Claim:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("idempotency_claim() must run inside a transaction")
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, key, operation, fingerprint, created_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            [scope, key, operation, fingerprint, clock.now()],
        )
        row = cursor.fetchone()
    if row is not None:
        return Claim(record_id=row[0], existing=None)
    existing = IdempotencyRecord.objects.get(scope=scope, key=key)
    if existing.operation != operation or existing.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            f"transaction_id {key!r} was already used for a different {existing.operation} request."
        )
    return Claim(record_id=None, existing=existing)


def idempotency_store(*, record_id: int, status: int, body: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IdempotencyRecord._meta.db_table} SET response_status = %s, response_body = %s WHERE id = %s",
            [status, orjson.dumps(body).decode(), record_id],
        )
