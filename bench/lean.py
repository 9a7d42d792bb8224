"""The lean reference debit: what Django on this machine serves when a debit is nothing but
itself. `make bench` runs it as the `lean` scenario, beside the platform's debit, on the same
web server, worker shape, database and load generator, so that the platform's number can be
read against the lean one measured in the same minutes (issue 5: "the lean number with the
full contract").

A lean debit is one statement in its own transaction: the wallet's balance guarded and
lowered, and the bet recorded under its unique transaction id. Nothing else of the contract:
no signature, session, responsible-gambling rules, round, idempotent replay, double-entry
ledger or metrics; Django's handler with no middleware, orjson in and out. Its tables are the
bench's own (`lean_tables`), never the platform's, so the platform's books are untouched.

Served by `python -m gunicorn bench.lean_wsgi:application`; never part of the product's URLs."""

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

WALLETS, BETS = "bench_lean_wallet", "bench_lean_bet"
START_BALANCE = 10**12

DEBIT_SQL = (
    f"WITH debited AS (UPDATE {WALLETS} SET balance = balance - %(amount)s"
    f" WHERE id = %(wallet)s AND balance >= %(amount)s RETURNING id, balance),"
    f" bet AS (INSERT INTO {BETS} (transaction_id, wallet_id, amount)"
    f" SELECT %(transaction_id)s, id, %(amount)s FROM debited)"
    f" SELECT balance FROM debited"
)


def lean_tables(cursor, wallets: int) -> None:
    """(Re)create the lean debit's tables with `wallets` wallets of START_BALANCE."""
    cursor.execute(f"DROP TABLE IF EXISTS {BETS}, {WALLETS}")
    cursor.execute(f"CREATE TABLE {WALLETS} (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))")
    cursor.execute(
        f"CREATE TABLE {BETS} (transaction_id text PRIMARY KEY,"
        f" wallet_id bigint NOT NULL REFERENCES {WALLETS}, amount bigint NOT NULL)"
    )
    cursor.execute(f"INSERT INTO {WALLETS} SELECT g, %s FROM generate_series(0, %s) g", [START_BALANCE, wallets - 1])
    cursor.execute(f"ANALYZE {WALLETS}")


def lean_check(cursor, prefix: str, accepted: int, in_flight: int, resent: int = 0) -> dict:
    """Money moved exactly once per accepted lean debit: the wallets lost what all bets
    recorded, and the scenario `prefix` booked one bet per accepted answer (give or take the
    requests in flight when the load generator stopped counting). `resent`: requests the load
    generator sent a second time when it ran out of them, which a lean debit cannot replay."""
    cursor.execute(f"SELECT coalesce(sum(amount), 0) FROM {BETS}")
    (bet_total,) = cursor.fetchone()
    cursor.execute(f"SELECT count(*) FROM {BETS} WHERE transaction_id LIKE %s", [f"{prefix}-%"])
    (bets,) = cursor.fetchone()
    cursor.execute(f"SELECT count(*) * %s - sum(balance) FROM {WALLETS}", [START_BALANCE])
    (lost,) = cursor.fetchone()
    problems = []
    if bet_total != lost:
        problems.append(f"wallets lost {lost} but bets total {bet_total}")
    if not accepted <= bets <= accepted + in_flight:
        problems.append(f"{accepted} accepted answers but {bets} bets")
    if resent:
        problems.append(f"the load generator ran out of requests and sent {resent} again")
    return {"ok": not problems, "problems": problems, "journal_transactions": bets}


@csrf_exempt
def debit(request: HttpRequest) -> HttpResponse:
    call = orjson.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            DEBIT_SQL, {"amount": call["amount"], "wallet": call["wallet"], "transaction_id": call["transaction_id"]}
        )
        row = cursor.fetchone()
    if row is None:
        content, status = b'{"code":"INSUFFICIENT_FUNDS"}', 402
    else:
        content, status = orjson.dumps({"balance": row[0]}), 200
    # With its length, as the platform's answers: without it granian sends the answer chunked,
    # which the open-loop generator (bench/loadgen.py) does not read.
    return HttpResponse(
        content, status=status, content_type="application/json", headers={"Content-Length": str(len(content))}
    )


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")


urlpatterns = [path("lean/debit", debit), path("health", health)]
