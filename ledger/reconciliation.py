"""Proofs that the books are right, as SQL over the whole journal.

1. Every journal transaction's entries sum to zero per currency.
2. Every cached balance (registered by the app that owns it: wallets) equals the sum of
   its ledger account's entries.
3. Every account that holds money for records of an app (withdrawals awaiting review) holds,
   per currency, exactly what those records add up to.
The ledger knows nothing of wallets; apps register their cached-balance tables and their
held totals here.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import connection, models
from django.db.models import Q, Sum

from casino_platform.db import read_snapshot

from .models import Account, Entry, JournalTransaction


@dataclass(frozen=True)
class _CachedBalance:
    model: type[models.Model]
    balance_field: str
    account_field: str


@dataclass(frozen=True)
class _HeldTotal:
    account_kind: str
    model: type[models.Model]
    amount_field: str
    currency_field: str
    held: Q


_CACHED_BALANCES: list[_CachedBalance] = []
_HELD_TOTALS: list[_HeldTotal] = []


def register_cached_balance(model: type[models.Model], *, balance_field: str, account_field: str) -> None:
    entry = _CachedBalance(model, balance_field, account_field)
    if entry not in _CACHED_BALANCES:
        _CACHED_BALANCES.append(entry)


def register_held_total(
    model: type[models.Model], *, account_kind: str, amount_field: str, currency_field: str, held: Q
) -> None:
    """The accounts of `account_kind` (one per currency) hold the sum of `amount_field` over
    the `model` rows matching `held`, in each row's currency (`currency_field`)."""
    entry = _HeldTotal(account_kind, model, amount_field, currency_field, held)
    if entry not in _HELD_TOTALS:
        _HELD_TOTALS.append(entry)


@dataclass(frozen=True)
class BalanceMismatch:
    table: str
    row_id: int
    account_id: int
    cached: int
    ledger: int

    def describe(self) -> str:
        cached, account = f"cached balance {self.cached}", f"account {self.account_id}"
        return f"{self.table} {self.row_id}: {cached} != ledger {self.ledger} ({account})"


@dataclass(frozen=True)
class HeldMismatch:
    """An account holding money for records (withdrawals pending) that holds another sum."""

    account_kind: str
    currency: str
    account_id: int | None
    recorded: int
    ledger: int
    records: str

    def describe(self) -> str:
        account = f"account {self.account_id}" if self.account_id is not None else "no account"
        return (
            f"{self.account_kind} {self.currency} ({account}): the ledger holds {self.ledger}, "
            f"the {self.records} add up to {self.recorded}"
        )


@dataclass(frozen=True)
class UnbalancedJournal:
    """A journal transaction whose entries do not sum to zero in `currency`, or (`entries`
    given) that has fewer than the two entries a movement needs."""

    transaction_id: int
    currency: str
    total: int
    entries: int | None = None

    def describe(self) -> str:
        if self.entries is not None:
            return f"journal transaction {self.transaction_id} has {self.entries} entries; a movement has two or more"
        return f"journal transaction {self.transaction_id} does not balance: {self.total} {self.currency}"


@dataclass
class ReconciliationReport:
    unbalanced: list[UnbalancedJournal] = field(default_factory=list)
    mismatches: list[BalanceMismatch | HeldMismatch] = field(default_factory=list)
    accounts_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.unbalanced and not self.mismatches

    def problems(self) -> Iterator[UnbalancedJournal | BalanceMismatch | HeldMismatch]:
        """Every problem found, each with its describe(): the journal's first."""
        yield from self.unbalanced
        yield from self.mismatches


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
            f"SELECT j.id, COUNT(e.id) FROM {journals} j LEFT JOIN {entries} e ON e.transaction_id = j.id "
            "GROUP BY j.id HAVING COUNT(e.id) < 2"
        )
        for tx_id, count in cursor.fetchall():
            yield UnbalancedJournal(tx_id, "", 0, entries=int(count))


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


def _held_mismatches(source: _HeldTotal) -> tuple[int, list[HeldMismatch]]:
    # Both sums in one snapshot, or a withdrawal decided between the two reads would show as
    # a mismatch that is not there.
    with read_snapshot():
        accounts = {
            row["currency_id"]: (row["id"], int(row["total"] or 0))
            for row in Account.objects.filter(kind=source.account_kind)
            .values("id", "currency_id")
            .annotate(total=Sum("entries__amount"))
        }
        recorded = {
            row[source.currency_field]: int(row["total"])
            for row in source.model._default_manager.filter(source.held)
            .values(source.currency_field)
            .annotate(total=Sum(source.amount_field))
        }
    bad = []
    records = f"{source.model._meta.verbose_name_plural} held"
    for currency in sorted(accounts.keys() | recorded.keys()):
        account_id, held = accounts.get(currency, (None, 0))
        if held != recorded.get(currency, 0):
            bad.append(
                HeldMismatch(source.account_kind, currency, account_id, recorded.get(currency, 0), held, records)
            )
    return len(accounts), bad


def ledger_reconcile(*, progress: Callable[[str, float], None] | None = None) -> ReconciliationReport:
    """Run every check; read-only, safe at any time. `progress(check, seconds)` is told of
    each check as it ends (each reads the whole journal: minutes on a large one)."""

    def done(check: str, started: float) -> None:
        if progress is not None:
            progress(check, time.monotonic() - started)

    started = time.monotonic()
    report = ReconciliationReport(unbalanced=list(_unbalanced_journals()))
    done("every journal transaction balances", started)
    for source in _CACHED_BALANCES:
        started = time.monotonic()
        checked, bad = _balance_mismatches(source)
        report.accounts_checked += checked
        report.mismatches.extend(bad)
        done(f"{source.model._meta.db_table} balances equal their ledger accounts", started)
    for held_total in _HELD_TOTALS:
        started = time.monotonic()
        accounts, held_bad = _held_mismatches(held_total)
        report.accounts_checked += accounts
        report.mismatches.extend(held_bad)
        done(f"{held_total.account_kind} accounts hold their {held_total.model._meta.db_table} rows", started)
    return report
