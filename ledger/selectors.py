"""Reads of the ledger for the back office and finance's reports."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.db.models import Case, CharField, Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate

from casino_platform.db import values_along_index
from casino_platform.errors import ValidationFailed
from casino_platform.validators import bigint_or_none

from .models import CURRENCY_CODE, Account, Currency, Entry, IdempotencyRecord, JournalTransaction


def currency_not_enabled(code: str) -> ValidationFailed:
    """The refusal of money in a currency the platform does not (or no longer) take in."""
    return ValidationFailed(
        f"Currency {code!r} is not enabled on this platform.", details={"currency": ["not enabled"]}
    )


def currency_get(*, code: str, enabled_only: bool = True) -> Currency:
    # Only a code as ISO 4217 writes it is looked up (a NUL would fail in the driver).
    currency = Currency.objects.filter(code=code).first() if CURRENCY_CODE.fullmatch(code) else None
    if currency is None or (enabled_only and not currency.is_enabled):
        raise currency_not_enabled(code)
    return currency


# Rows fetched per round trip by the reports' iterators (a server-side cursor on PostgreSQL).
REPORT_CHUNK_SIZE = 2000


def round_journal(*, provider_code: str, round_id: str) -> QuerySet[JournalTransaction]:
    """A game round's money movements, oldest first, each with its entries and their
    accounts (found by journal_round_idx: provider code and round id)."""
    entries = Entry.objects.select_related("account").order_by("id")
    return (
        JournalTransaction.objects.filter(provider_code=provider_code, round_id=round_id)
        .prefetch_related(Prefetch("entries", queryset=entries))
        .order_by("id")
    )


@dataclass(frozen=True)
class RoundMovement:
    journal: JournalTransaction
    wallet_amount: int  # what it did to the player's wallet, signed minor units (a bet negative)


def round_movements(*, provider_code: str, round_id: str) -> list[RoundMovement]:
    """A game round's money movements, oldest first, each with what it moved on the player's
    wallet: how support, and the player's game history, explain a round's money."""
    return [
        RoundMovement(
            journal,
            sum(e.amount for e in journal.entries.all() if e.account.kind == Account.Kind.PLAYER_WALLET),
        )
        for journal in round_journal(provider_code=provider_code, round_id=round_id)
    ]


def journal_provider_codes() -> list[str]:
    """Every provider code in the journal, read by skipping along journal_round_idx (one
    index probe per code) rather than by reading the journal."""
    return values_along_index(JournalTransaction, "provider_code")


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
    journal_id = bigint_or_none(term.removeprefix("#"))
    if journal_id is not None:
        match |= Q(pk=journal_id)
    return queryset.filter(match)


def entry_search_journal_number(term: str) -> int | None:
    """The journal number an entry search names (`123` or `#123`); None when the term is an
    account's key."""
    return bigint_or_none(term.strip().removeprefix("#"))


def entry_search(queryset: QuerySet[Entry], term: str) -> QuerySet[Entry]:
    """The back office's entry search: a journal number finds its entries by the (transaction,
    leg) key; anything else is an account's key, whose id is looked up first so that its
    entries are found, and paged newest first, along the (account, created_at) index. Never
    both at once: an OR of the two across the join to the accounts was served by no index and
    read every entry."""
    term = term.strip()
    if not term:
        return queryset
    journal_id = entry_search_journal_number(term)
    if journal_id is not None:
        return queryset.filter(transaction_id=journal_id)
    account_id = Account.objects.filter(key=term).values_list("pk", flat=True).first()
    return queryset.none() if account_id is None else queryset.filter(account_id=account_id)


def idempotency_record_search(queryset: QuerySet[IdempotencyRecord], term: str) -> QuerySet[IdempotencyRecord]:
    """Idempotency records by their key, exactly as written, along their only index, (scope,
    key): the search names every scope in the table, read along that index, which a condition
    on the key alone would read end to end."""
    term = term.strip()
    if not term:
        return queryset
    return queryset.filter(scope__in=values_along_index(IdempotencyRecord, "scope"), key=term)


def _entries_in(*, until: datetime, currency: str | None) -> QuerySet[Entry]:
    entries = Entry.objects.filter(created_at__lt=until)
    return entries.filter(currency_id=currency) if currency else entries


def _entries_booked_in(*, since: datetime, until: datetime, currency: str | None) -> QuerySet[Entry]:
    """The entries of [since, until), bounded on their transaction's time as well: the same
    instant (ledger_post stamps both alike), which the journal's created_at index serves. The
    entries have no index on their time alone, and a day's report read every entry ever
    written."""
    return _entries_in(until=until, currency=currency).filter(
        created_at__gte=since, transaction__created_at__gte=since, transaction__created_at__lt=until
    )


def _balance_movements(since: datetime) -> dict[str, Any]:
    """A group of entries' balance at `since` (opening), what its entries from then on added
    and took away, and how many there were: the trial balance's columns, per account or kind."""
    in_period = Q(created_at__gte=since)
    return {
        "opening": Coalesce(Sum("amount", filter=Q(created_at__lt=since)), Value(0)),
        "increases": Coalesce(Sum("amount", filter=in_period & Q(amount__gt=0)), Value(0)),
        "decreases": Coalesce(Sum("amount", filter=in_period & Q(amount__lt=0)), Value(0)),
        "entries": Count("id", filter=in_period),
    }


def ledger_trial_balance(*, since: datetime, until: datetime, currency: str | None = None) -> Iterator[dict[str, Any]]:
    """Every account with entries before `until`: its balance at `since` (opening), what its
    entries in [since, until) added and took away, and its balance at `until` (closing).
    Signed as the entries are: a wallet's closing balance is what the platform owes the
    player. Each currency's accounts sum to zero at both ends, the journal's balance check."""
    # Any: the stubs type a values() row by the annotations they can see, not by **movements.
    rows: Any = (
        _entries_in(until=until, currency=currency)
        .values(
            "account_id",
            account_key=F("account__key"),
            account_kind=F("account__kind"),
            account_currency=F("account__currency"),
        )
        .annotate(**_balance_movements(since))
        .order_by("account_currency", "account_kind", "account_key")
    )
    for row in rows.iterator(chunk_size=REPORT_CHUNK_SIZE):
        yield {
            "account": row["account_key"],
            "kind": row["account_kind"],
            "currency": row["account_currency"],
            "opening": row["opening"],
            "increases": row["increases"],
            "decreases": row["decreases"],
            "closing": row["opening"] + row["increases"] + row["decreases"],
            "entries": row["entries"],
        }


def ledger_trial_balance_summary(
    *, since: datetime, until: datetime, currency: str | None = None
) -> Iterator[dict[str, Any]]:
    """`ledger_trial_balance` in all per account kind and currency: how many accounts of the
    kind have entries before `until`, their opening and closing balances and what moved them
    in [since, until). The kinds of each currency sum to zero at both ends, as its accounts
    do: what the players are owed beside what the providers' clearing and the cash accounts
    hold."""
    # Any: the stubs type a values() row by the annotations they can see, not by **movements.
    rows: Any = (
        _entries_in(until=until, currency=currency)
        .values("currency_id", kind=F("account__kind"))
        .annotate(accounts=Count("account_id", distinct=True), **_balance_movements(since))
        .order_by("currency_id", "kind")
    )
    for row in rows.iterator(chunk_size=REPORT_CHUNK_SIZE):
        yield {
            "kind": row["kind"],
            "currency": row["currency_id"],
            "accounts": row["accounts"],
            "opening": row["opening"],
            "increases": row["increases"],
            "decreases": row["decreases"],
            "closing": row["opening"] + row["increases"] + row["decreases"],
            "entries": row["entries"],
        }


def ledger_provider_ggr(*, since: datetime, until: datetime, currency: str | None = None) -> Iterator[dict[str, Any]]:
    """Gross gaming revenue per UTC day, provider and currency, from the players' wallet
    entries of provider calls in [since, until): bets (debits), payouts (credits of every
    reason: wins, prizes, refunds, ...), rolled back (debits returned by rollbacks), and
    GGR = bets - payouts - rolled back, what the casino kept."""
    return _gaming_revenue(since=since, until=until, currency=currency, by_game=False)


def ledger_game_ggr(*, since: datetime, until: datetime, currency: str | None = None) -> Iterator[dict[str, Any]]:
    """`ledger_provider_ggr` per game as well: each movement counts for the game of its round
    (the game the round's first bet was placed in), so the games' rows add up to their
    provider's. A movement whose round the platform does not hold (none is accepted so) would
    be listed with no game."""
    return _gaming_revenue(since=since, until=until, currency=currency, by_game=True)


def _gaming_revenue(
    *, since: datetime, until: datetime, currency: str | None, by_game: bool
) -> Iterator[dict[str, Any]]:
    from sessions.models import Round  # the rounds build on the ledger, not the other way round

    keys = ["day", "provider", *(["game"] if by_game else []), "currency_id"]
    entries = (
        _entries_booked_in(since=since, until=until, currency=currency)
        .filter(
            account__kind=Account.Kind.PLAYER_WALLET,
            transaction__kind__in=["debit", "credit", "rollback"],
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC), provider=F("transaction__provider_code"))
    )
    if by_game:
        # One probe of the rounds' (provider, round id) key per entry.
        entries = entries.annotate(
            game=Subquery(
                Round.objects.filter(
                    provider__code=OuterRef("transaction__provider_code"), round_id=OuterRef("transaction__round_id")
                ).values("game_id")[:1]
            )
        )
    rows = (
        entries.values(*keys)
        .annotate(
            bets=Coalesce(-Sum("amount", filter=Q(transaction__kind="debit")), Value(0)),
            payouts=Coalesce(Sum("amount", filter=Q(transaction__kind="credit")), Value(0)),
            rolled_back=Coalesce(Sum("amount", filter=Q(transaction__kind="rollback")), Value(0)),
            debits=Count("id", filter=Q(transaction__kind="debit")),
            credits=Count("id", filter=Q(transaction__kind="credit")),
            rollbacks=Count("id", filter=Q(transaction__kind="rollback")),
        )
        .order_by(*keys)
    )
    for row in rows.iterator(chunk_size=REPORT_CHUNK_SIZE):
        yield {
            "day": row["day"],
            "provider": row["provider"],
            **({"game": row["game"] or ""} if by_game else {}),
            "currency": row["currency_id"],
            "bets": row["bets"],
            "payouts": row["payouts"],
            "rolled_back": row["rolled_back"],
            "ggr": row["bets"] - row["payouts"] - row["rolled_back"],
            "debits": row["debits"],
            "credits": row["credits"],
            "rollbacks": row["rollbacks"],
        }


# Who moved cash, by the journal's created_by: the operator API's keys and staff in the admin.
# Anything else (the sandbox's seed, the simulator) is reported under its own name.
_CASHIER_CHANNEL = Case(
    When(transaction__created_by__startswith="operator:", then=Value("operator_api")),
    When(transaction__created_by__startswith="staff:", then=Value("staff")),
    default=F("transaction__created_by"),
    output_field=CharField(),
)


def ledger_cashier(*, since: datetime, until: datetime, currency: str | None = None) -> Iterator[dict[str, Any]]:
    """Money into and out of the players' wallets other than by play, per UTC day, currency
    and channel (the operator API, staff, or the name of another writer), from the wallet
    entries of [since, until): deposits, withdrawals, withdrawals returned (a failed payout,
    or a withdrawal rejected or cancelled while it waited for review, put back), staff's
    adjustments (signed), and the net change of what the wallets hold. Withdrawals are gross,
    counted when asked for: a return is listed beside them, on the day it was made."""
    deposit = Q(transaction__kind="deposit")
    adjustment = Q(transaction__kind="adjustment")
    is_return = Q(transaction__reverses__isnull=False)
    payout = Q(transaction__kind="withdrawal") & ~is_return
    returned = Q(transaction__kind="withdrawal") & is_return
    rows = (
        _entries_booked_in(since=since, until=until, currency=currency)
        .filter(
            account__kind=Account.Kind.PLAYER_WALLET,
            transaction__kind__in=["deposit", "withdrawal", "adjustment"],
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC), channel=_CASHIER_CHANNEL)
        .values("day", "currency_id", "channel")
        .annotate(
            deposited=Coalesce(Sum("amount", filter=deposit), Value(0)),
            withdrawn=Coalesce(-Sum("amount", filter=payout), Value(0)),
            returned=Coalesce(Sum("amount", filter=returned), Value(0)),
            adjusted=Coalesce(Sum("amount", filter=adjustment), Value(0)),
            deposit_count=Count("id", filter=deposit),
            withdrawal_count=Count("id", filter=payout),
            return_count=Count("id", filter=returned),
            adjustment_count=Count("id", filter=adjustment),
        )
        .order_by("day", "currency_id", "channel")
    )
    for row in rows.iterator(chunk_size=REPORT_CHUNK_SIZE):
        yield {
            "day": row["day"],
            "currency": row["currency_id"],
            "channel": row["channel"],
            "deposits": row["deposited"],
            "withdrawals": row["withdrawn"],
            "returned": row["returned"],
            "adjustments": row["adjusted"],
            "net": row["deposited"] - row["withdrawn"] + row["returned"] + row["adjusted"],
            "deposit_count": row["deposit_count"],
            "withdrawal_count": row["withdrawal_count"],
            "return_count": row["return_count"],
            "adjustment_count": row["adjustment_count"],
        }


def ledger_journal_lines(*, since: datetime, until: datetime, currency: str | None = None) -> Iterator[dict[str, Any]]:
    """Every entry of the journal transactions made in [since, until), in journal order, with
    its transaction's particulars: the journal as finance's books import it."""
    rows = (
        _entries_booked_in(since=since, until=until, currency=currency)
        .order_by("transaction_id", "leg")
        .values(
            "transaction_id",
            "leg",
            "created_at",
            "amount",
            "currency_id",
            account_key=F("account__key"),
            account_kind=F("account__kind"),
            kind=F("transaction__kind"),
            provider_code=F("transaction__provider_code"),
            provider_transaction_id=F("transaction__provider_transaction_id"),
            round_id=F("transaction__round_id"),
            reason=F("transaction__reason"),
            reverses_id=F("transaction__reverses_id"),
            created_by=F("transaction__created_by"),
            trace_id=F("transaction__trace_id"),
            memo=F("transaction__memo"),
        )
    )
    # values() rows are dicts already; the cast only tells mypy so, without a copy per row.
    yield from cast(Iterator[dict[str, Any]], rows.iterator(chunk_size=REPORT_CHUNK_SIZE))
