"""Writes to the journal. `ledger_post` is the only way entries are created."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from casino_platform import clock

from .errors import UnbalancedTransaction
from .models import Account, Currency, Entry, ExportRecord, JournalTransaction
from .settings_audit import setting_changes_record


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: int
    amount: int  # signed minor units
    currency: str


def ledger_account_get_or_create(*, key: str, kind: str, currency: str, name: str = "") -> Account:
    account = Account.objects.filter(key=key).first()
    if account is not None:
        return account
    account, _ = Account.objects.get_or_create(
        key=key, defaults={"kind": kind, "currency_id": currency, "name": name or key}
    )
    return account


_account_ids: dict[str, int] = {}


def ledger_account_cache_clear() -> None:
    _account_ids.clear()


def ledger_account_id(*, key: str, kind: str, currency: str) -> int:
    """The id of a long-lived account (provider clearing, cash, adjustments), remembered per
    process: accounts are never deleted, so a bet need not look its clearing account up."""
    account_id = ledger_account_id_cached(key=key)
    if account_id is None:
        account_id = ledger_account_get_or_create(key=key, kind=kind, currency=currency).pk
        ledger_account_id_remember(key=key, account_id=account_id)
    return account_id


def ledger_account_id_cached(*, key: str) -> int | None:
    """The remembered id, or None; never a query (the debit function finds or creates the
    account itself when given none)."""
    return _account_ids.get(key)


def ledger_account_id_remember(*, key: str, account_id: int) -> None:
    # Remembered only once committed: an account created by a transaction that then rolls
    # back must not be remembered.
    transaction.on_commit(lambda: _account_ids.setdefault(key, account_id))


def house_account_id(*, kind: str, currency: str) -> int:
    """The id of the platform's own account of `kind` in `currency` (cash in, cash out,
    adjustments, withdrawals pending): one per kind and currency, keyed `<kind>:<currency>`."""
    return ledger_account_id(key=f"{kind}:{currency}", kind=kind, currency=currency)


def provider_clearing_key(*, provider_code: str, currency: str) -> str:
    return f"provider:{provider_code}:{currency}"


def ledger_post(
    *,
    kind: str,
    legs: Sequence[Leg],
    created_by: str,
    provider_code: str = "",
    provider_transaction_id: str = "",
    round_id: str = "",
    reason: str = "",
    reverses: JournalTransaction | None = None,
    trace_id: str = "",
    memo: str = "",
    created_at: datetime | None = None,
) -> JournalTransaction:
    """Write one balanced journal transaction. Must run inside the caller's transaction, so the
    entries commit together with the balance change they explain. Stamped `created_at` (now
    unless given: a debit gives the time its limits were judged at, so that it is booked in
    the period it was judged in), the transaction and every leg alike."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post() must run inside a transaction")
    if len(legs) < 2:
        raise UnbalancedTransaction("A journal transaction needs at least two legs.")
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        if type(leg.amount) is not int:
            raise UnbalancedTransaction("Ledger amounts are integers in minor units.")
        totals[leg.currency] += leg.amount
    if any(totals.values()):
        raise UnbalancedTransaction(f"Legs do not balance: {dict(totals)}")
    fields = {
        "kind": kind,
        "provider_code": provider_code,
        "provider_transaction_id": provider_transaction_id,
        "round_id": round_id,
        "reason": reason,
        "reverses_id": reverses.pk if reverses else None,
        "trace_id": trace_id,
        "created_by": created_by,
        "memo": memo,
    }
    journal = JournalTransaction(**fields, created_at=created_at or clock.now())
    if connection.vendor == "postgresql":
        # The hot path of every bet: the transaction and its entries in one round trip.
        journal.pk = _insert_journal_with_entries(journal, legs)
        return journal
    # Raw saves write the stamp as given: auto_now_add stamped each row as it was written,
    # so a transaction posted at midnight could have its legs on two days.
    journal.save_base(raw=True, force_insert=True)
    for number, leg in enumerate(legs, start=1):
        Entry(
            transaction=journal,
            leg=number,
            account_id=leg.account_id,
            amount=leg.amount,
            currency_id=leg.currency,
            created_at=journal.created_at,
        ).save_base(raw=True, force_insert=True)
    return journal


def _insert_journal_with_entries(journal: JournalTransaction, legs: Sequence[Leg]) -> int:
    journals, entries = JournalTransaction._meta.db_table, Entry._meta.db_table
    values = ", ".join(["(%s::smallint, %s::bigint, %s::bigint, %s::varchar)"] * len(legs))
    params: list[Any] = [
        journal.kind,
        journal.provider_code,
        journal.provider_transaction_id,
        journal.round_id,
        journal.reason,
        journal.reverses_id,
        journal.trace_id,
        journal.created_at,
        journal.created_by,
        journal.memo,
        journal.created_at,
    ]
    for number, leg in enumerate(legs, start=1):
        params += [number, leg.account_id, leg.amount, leg.currency]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH j AS (INSERT INTO {journals} (kind, provider_code, provider_transaction_id, round_id, reason,"
            " reverses_id, trace_id, created_at, created_by, memo) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING id) INSERT INTO {entries} (transaction_id, leg, account_id, amount, currency, created_at)"
            f" SELECT j.id, e.leg, e.account_id, e.amount, e.currency, %s FROM j, (VALUES {values})"
            " AS e(leg, account_id, amount, currency) RETURNING transaction_id",
            params,
        )
        return int(cursor.fetchone()[0])


# ISO 4217 codes and exponents the platform knows out of the box (migration 0003 installs
# them; seed_sandbox re-creates any that are missing, e.g. after a test flush).
DEFAULT_CURRENCIES = {
    "EUR": ("Euro", 2),
    "USD": ("US Dollar", 2),
    "GBP": ("Pound Sterling", 2),
    "CAD": ("Canadian Dollar", 2),
    "SEK": ("Swedish Krona", 2),
    "NOK": ("Norwegian Krone", 2),
    "BRL": ("Brazilian Real", 2),
    "JPY": ("Yen", 0),
    "KRW": ("Won", 0),
    "KWD": ("Kuwaiti Dinar", 3),
    "BHD": ("Bahraini Dinar", 3),
}


@transaction.atomic
def currency_ensure_defaults(*, changed_by: str = "system") -> int:
    """Create the default currencies that are missing (on the settings' trail); returns how
    many were created."""
    created = 0
    for code, (name, exponent) in DEFAULT_CURRENCIES.items():
        if not Currency.objects.filter(code=code).exists():
            currency = Currency.objects.create(code=code, name=name, exponent=exponent)
            setting_changes_record(obj=currency, before=None, changed_by=changed_by)
            created += 1
    return created


@transaction.atomic(durable=True)  # committed before the first row is read, not with it
def export_record_start(
    *, exported_by: str, report: str, since: datetime, until: datetime, currency: str | None, provisional: bool
) -> ExportRecord:
    """Record that `exported_by` began exporting `report` of [since, until), committed at
    once: an export cut off on its way out has still been seen by someone."""
    return ExportRecord.objects.create(
        exported_at=clock.now(),
        exported_by=exported_by,
        report=report,
        since=since,
        until=until,
        currency=currency or "",
        provisional=provisional,
    )


def export_record_finish(*, record_id: int, rows: int) -> None:
    """The rows an export wrote, once it ended; set once."""
    ExportRecord.objects.filter(pk=record_id, rows__isnull=True).update(rows=rows)
