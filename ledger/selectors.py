"""Reads of the ledger for the back office."""

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from .models import Entry, JournalTransaction


def round_journal(*, provider_code: str, round_id: str) -> QuerySet[JournalTransaction]:
    """A game round's money movements, oldest first, each with its entries and their
    accounts (found by journal_round_idx: provider code and round id)."""
    entries = Entry.objects.select_related("account").order_by("id")
    return (
        JournalTransaction.objects.filter(provider_code=provider_code, round_id=round_id)
        .prefetch_related(Prefetch("entries", queryset=entries))
        .order_by("id")
    )


# A bigint primary key: a longer run of digits is no journal number.
MAX_JOURNAL_ID = 2**63 - 1


def journal_provider_codes() -> list[str]:
    """Every provider code in the journal, read by skipping along journal_round_idx (one
    index probe per code) rather than by reading the journal."""
    table = JournalTransaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE codes(code) AS ("
            f" SELECT MIN(provider_code) FROM {table}"
            f" UNION ALL"
            f" SELECT (SELECT MIN(provider_code) FROM {table} WHERE provider_code > codes.code)"
            f" FROM codes WHERE codes.code IS NOT NULL"
            f") SELECT code FROM codes WHERE code IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


def journal_search(queryset: QuerySet[JournalTransaction], term: str) -> QuerySet[JournalTransaction]:
    """The back office's journal search: a provider transaction id, a round id or a journal
    number, each found by an index; `trace:<id>` for a trace id, which no index holds (every
    wallet write would pay for one), so that search reads the whole journal and is asked
    for by name. Provider transaction and round ids are indexed after the provider code:
    the search names every code in the journal so the indexes serve it."""
    term = term.strip()
    if not term:
        return queryset
    if term.startswith("trace:"):
        return queryset.filter(trace_id=term.removeprefix("trace:").strip())
    codes = journal_provider_codes()
    match = Q(provider_code__in=codes, provider_transaction_id=term) | Q(provider_code__in=codes, round_id=term)
    digits = term.removeprefix("#")
    if digits.isascii() and digits.isdigit() and int(digits) <= MAX_JOURNAL_ID:
        match |= Q(pk=int(digits))
    return queryset.filter(match)
