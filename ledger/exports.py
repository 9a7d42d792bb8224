"""Finance's ledger reports as CSV, for `manage.py ledger_report` and the admin's Reports
page: a selector yields the rows, this formats them. Money leaves in major units with the
currency's exponent (exact, never through a float); text that came from outside (provider
ids, reasons, memos) is escaped so a spreadsheet never runs it as a formula."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction

from casino_platform import clock

from .models import Currency
from .money import Money
from .selectors import (
    ledger_cashier,
    ledger_game_ggr,
    ledger_journal_lines,
    ledger_provider_ggr,
    ledger_trial_balance,
    ledger_trial_balance_summary,
)


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    rows: Callable[..., Iterator[dict[str, Any]]]
    columns: tuple[str, ...]
    money: frozenset[str]  # columns in minor units of the row's currency


REPORTS = {
    report.name: report
    for report in (
        Report(
            "trial-balance",
            "Trial balance: every account's opening and closing balance and its movements",
            ledger_trial_balance,
            ("account", "kind", "currency", "opening", "increases", "decreases", "closing", "entries"),
            frozenset({"opening", "increases", "decreases", "closing"}),
        ),
        Report(
            "trial-balance-summary",
            "Trial balance summary: the accounts' balances and movements in all per account kind and currency",
            ledger_trial_balance_summary,
            ("kind", "currency", "accounts", "opening", "increases", "decreases", "closing", "entries"),
            frozenset({"opening", "increases", "decreases", "closing"}),
        ),
        Report(
            "ggr",
            "Gross gaming revenue per day, provider and currency",
            ledger_provider_ggr,
            ("day", "provider", "currency", "bets", "payouts", "rolled_back", "ggr", "debits", "credits", "rollbacks"),
            frozenset({"bets", "payouts", "rolled_back", "ggr"}),
        ),
        Report(
            "game-ggr",
            "Gross gaming revenue per day, provider, game and currency",
            ledger_game_ggr,
            (
                "day",
                "provider",
                "game",
                "currency",
                "bets",
                "payouts",
                "rolled_back",
                "ggr",
                "debits",
                "credits",
                "rollbacks",
            ),
            frozenset({"bets", "payouts", "rolled_back", "ggr"}),
        ),
        Report(
            "cashier",
            "Cashier: deposits, withdrawals, returned payouts and adjustments per day, currency and channel",
            ledger_cashier,
            (
                "day",
                "currency",
                "channel",
                "deposits",
                "withdrawals",
                "returned",
                "adjustments",
                "net",
                "deposit_count",
                "withdrawal_count",
                "return_count",
                "adjustment_count",
            ),
            frozenset({"deposits", "withdrawals", "returned", "adjustments", "net"}),
        ),
        Report(
            "journal",
            "The journal: every entry with its transaction",
            ledger_journal_lines,
            (
                "transaction_id",
                "leg",
                "created_at",
                "kind",
                "account_key",
                "account_kind",
                "amount",
                "currency_id",
                "provider_code",
                "provider_transaction_id",
                "round_id",
                "reason",
                "reverses_id",
                "created_by",
                "trace_id",
                "memo",
            ),
            frozenset({"amount"}),
        ),
    )
}

# What a spreadsheet would read as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# How long after a period's end a movement stamped inside it may still commit (it is
# stamped before it waits for its wallet's lock).
SETTLING_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC."""

    since: datetime
    until: datetime

    @classmethod
    def of_days(cls, since: date | None = None, until: date | None = None, *, today: date | None = None) -> Period:
        """Whole UTC days, `until` exclusive; yesterday unless told otherwise."""
        today = today or clock.now().astimezone(UTC).date()
        try:
            until = until or (since + timedelta(days=1) if since else today)
            since = since or until - timedelta(days=1)
        except OverflowError:
            raise ValueError("The period runs past the calendar's first or last day.") from None
        if since >= until:
            raise ValueError(f"The period is empty: {since} is not before {until} (the end is exclusive).")
        return cls(datetime.combine(since, time(), UTC), datetime.combine(until, time(), UTC))

    def is_settled(self, *, now: datetime, margin: timedelta = SETTLING_MARGIN) -> bool:
        """Whether every movement stamped inside the period has committed by now. A movement
        is stamped before it waits for its lock and commits, so one stamped just before
        `until` can commit just after it: a report of a period that ended less than `margin`
        ago may miss it for good."""
        return self.until <= now - margin

    def slug(self) -> str:
        return f"{self.since:%Y-%m-%d}_{self.until:%Y-%m-%d}"


def report_filename(report: Report, period: Period, currency: str | None, *, provisional: bool = False) -> str:
    """Named for what it holds; `provisional`: of a period not yet settled (`Period.is_settled`),
    so that a file downloaded too early is not filed as the final one."""
    return (
        f"{report.name}_{period.slug()}{'_' + currency if currency else ''}{'_provisional' if provisional else ''}.csv"
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | int):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def report_lines(report: Report, *, period: Period, currency: str | None = None) -> Iterator[list[str]]:
    """The header, then one list of cells per row."""
    rows = report.rows(since=period.since, until=period.until, currency=currency)
    return table_lines(rows, columns=report.columns, money=report.money)


def table_lines(
    rows: Iterable[dict[str, Any]], *, columns: tuple[str, ...], money: frozenset[str]
) -> Iterator[list[str]]:
    """The header, then each row's cells: `money` columns (minor units of the row's `currency`
    or `currency_id`, or None) in major units, the rest as text a spreadsheet will not run."""
    exponents = dict(Currency.objects.values_list("code", "exponent"))
    yield list(columns)
    for row in rows:
        row_currency = row.get("currency") or row["currency_id"]
        yield [
            Money(row[column], row_currency).decimal(exponents[row_currency])
            if column in money and row[column] is not None
            else _text(row[column])
            for column in columns
        ]


class _Line:
    """csv.writer's file: hands back each line it writes, for streaming."""

    def write(self, line: str) -> str:
        return line


@contextmanager
def report_snapshot(*, idle_timeout: str | None = None) -> Iterator[None]:
    """Where a report's rows are read. On PostgreSQL, a transaction: its server-side cursor
    streams (outside one, Django declares it WITH HOLD and PostgreSQL builds the whole result
    before the first row), and the report sees one snapshot. `idle_timeout` ends it if the
    reader stops reading that long, so that a stalled download does not hold vacuum's
    horizon. On SQLite (the embedded run) none: its transactions begin IMMEDIATE, taking the
    write lock, and every bet would wait on the export."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Every row is read, not the first few: planned for the first 10% (PostgreSQL's
            # default for a cursor), a day's journal walked the whole journal's key in order to
            # skip the sort, and took 513 ms on 2.4M transactions where 31 ms would do.
            local = {"cursor_tuple_fraction": "1"}
            if idle_timeout:
                local["idle_in_transaction_session_timeout"] = idle_timeout
            cursor.execute(
                "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(local)),
                [value for pair in local.items() for value in pair],
            )
        yield


def report_csv(report: Report, *, period: Period, currency: str | None = None) -> Iterator[str]:
    return csv_lines(report_lines(report, period=period, currency=currency))


def csv_lines(lines: Iterable[list[str]]) -> Iterator[str]:
    """Each list of cells as one CSV line."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    for cells in lines:
        yield writer.writerow(cells)


# What a streamed download hands the server at a time: one chunk per line was a write per
# row, from the server threads that also serve the wallet's calls.
STREAM_CHUNK_CHARS = 64 * 1024


def in_chunks(lines: Iterable[str], *, size: int = STREAM_CHUNK_CHARS) -> Iterator[str]:
    """The lines joined into chunks of at least `size` characters (the last may be shorter;
    a line is never split), for a streaming response."""
    chunk: list[str] = []
    length = 0
    for line in lines:
        chunk.append(line)
        length += len(line)
        if length >= size:
            yield "".join(chunk)
            chunk, length = [], 0
    if chunk:
        yield "".join(chunk)
