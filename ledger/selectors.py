"""Reads of the ledger for the back office."""

from django.db.models import Prefetch, QuerySet

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
