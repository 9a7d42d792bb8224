"""The lean reference debit the benchmark measures the platform against (bench/lean.py):
it must be a real debit, and its check must catch money moved other than once."""

import orjson
import pytest
from django.db import connection
from django.test import RequestFactory

from bench.lean import START_BALANCE, debit, lean_check, lean_tables

pytestmark = pytest.mark.django_db


def lean_debit(wallet: int, amount: int, transaction_id: str):
    body = orjson.dumps({"wallet": wallet, "amount": amount, "transaction_id": transaction_id})
    return debit(RequestFactory().post("/lean/debit", data=body, content_type="application/json"))


def test_a_lean_debit_lowers_the_balance_and_records_the_bet_once():
    with connection.cursor() as cursor:
        lean_tables(cursor, wallets=3)
    answer = lean_debit(1, 25, "t-1")
    assert answer.status_code == 200
    assert orjson.loads(answer.content) == {"balance": START_BALANCE - 25}
    # Framed by its length, as the platform's answers are and the open-loop generator reads them.
    assert answer["Content-Length"] == str(len(answer.content))

    refused = lean_debit(2, START_BALANCE + 1, "t-2")
    assert refused.status_code == 402
    assert refused["Content-Length"] == str(len(refused.content))
    with connection.cursor() as cursor:
        verdict = lean_check(cursor, "t", accepted=1, in_flight=0)
        assert verdict == {"ok": True, "problems": [], "journal_transactions": 1}
        cursor.execute("SELECT id, balance FROM bench_lean_wallet ORDER BY id")
        assert cursor.fetchall() == [(0, START_BALANCE), (1, START_BALANCE - 25), (2, START_BALANCE)]


def test_the_lean_check_catches_money_moved_without_a_bet_and_uncounted_bets():
    with connection.cursor() as cursor:
        lean_tables(cursor, wallets=2)
    lean_debit(0, 10, "t-1")
    lean_debit(1, 10, "t-2")
    with connection.cursor() as cursor:
        assert lean_check(cursor, "t", accepted=1, in_flight=1)["ok"]
        assert lean_check(cursor, "t", accepted=1, in_flight=0)["problems"] == ["1 accepted answers but 2 bets"]
        # Another scenario's bets are not this one's.
        assert lean_check(cursor, "u", accepted=0, in_flight=0)["ok"]
        assert lean_check(cursor, "t", accepted=2, in_flight=0, resent=3)["problems"] == [
            "the load generator ran out of requests and sent 3 again"
        ]
        cursor.execute("UPDATE bench_lean_wallet SET balance = balance - 5 WHERE id = 0")
        assert lean_check(cursor, "t", accepted=2, in_flight=0)["problems"] == ["wallets lost 25 but bets total 20"]
