"""Proofs that the books are right, as SQL over the whole journal.

1. Every journal transaction's entries sum to zero per currency.
2. Every cached balance (registered by the app that owns it: wallets) equals the sum of
   its ledger account's entries.
The ledger knows nothing of wallets; apps register their cached-balance tables here.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, models

from .models import Entry, JournalTransaction


@dataclass(frozen=True)
class _CachedBalance:
    model: type[models.Model]
    balance_field: str
    account_field: str


_CACHED_BALANCES: list[_CachedBalance] = []


def register_cached_balance(model: type[models.Model], *, balance_field: str, account_field: str) -> None:
    entry = _CachedBalance(model, balance_field, account_field)
    if entry not in _CACHED_BALANCES:
        _CACHED_BALANCES.append(entry)


@dataclass(frozen=True)
class BalanceMismatch:
    table: str
    row_id: int
    account_id: int
    cached: int
    ledger: int


@dataclass(frozen=True)
class UnbalancedJournal:
    transaction_id: int
    currency: str
    total: int


@dataclass
class ReconciliationReport:
    unbalanced: list[UnbalancedJournal] = field(default_factory=list)
    mismatches: list[BalanceMismatch] = field(default_factory=list)
    accounts_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.unbalanced and not self.mismatches


def _unbalanced_journals() -> Iterator[UnbalancedJournal]:
    entries = Entry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT transaction_id, currency, SUM(amount) FROM {entries} "
            "GROUP BY transaction_id, currency HAVING SUM(amount) <> 0 ORDER BY transaction_id"
        )
        for tx_id, currency, total in cursor.fetchall():
            yield UnbalancedJournal(tx_id, currency, int(total))
    journals = JournalTransaction._meta.db_table
    with connection.cursor() as cursor:
        # A transaction with fewer than two entries explains nothing.
        cursor.execute(
            f"SELECT j.id FROM {journals} j LEFT JOIN {entries} e ON e.transaction_id = j.id "
            "GROUP BY j.id HAVING COUNT(e.id) < 2"
        )
        for (tx_id,) in cursor.fetchall():
            yield UnbalancedJournal(tx_id, "", 0)


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return str(field.column)


def _balance_mismatches(source: _CachedBalance) -> tuple[int, list[BalanceMismatch]]:
    table = source.model._meta.db_table
    balance_col = _column(source.model, source.balance_field)
    account_col = _column(source.model, source.account_field)
    entries = Entry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        (checked,) = cursor.fetchone()
        cursor.execute(
            f"SELECT w.id, w.{account_col}, w.{balance_col}, COALESCE(s.total, 0) "
            f"FROM {table} w LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM {entries} "
            f"GROUP BY account_id) s ON s.account_id = w.{account_col} "
            f"WHERE w.{balance_col} <> COALESCE(s.total, 0) ORDER BY w.id"
        )
        bad = [
            BalanceMismatch(table, row_id, account_id, int(cached), int(total))
            for row_id, account_id, cached, total in cursor.fetchall()
        ]
    return int(checked), bad


def ledger_reconcile() -> ReconciliationReport:
    """Run every check; read-only, safe at any time."""
    report = ReconciliationReport(unbalanced=list(_unbalanced_journals()))
    for source in _CACHED_BALANCES:
        checked, bad = _balance_mismatches(source)
        report.accounts_checked += checked
        report.mismatches.extend(bad)
    return report
