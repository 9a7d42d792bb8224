from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, Min, Q, QuerySet, Sum

from casino_platform import clock
from casino_platform.db import FinishedTransactionsBelow, read_snapshot, values_along_index
from casino_platform.validators import bigint_or_none
from ledger.models import Currency, Entry, JournalTransaction
from players.models import DepositLimit, LossLimit, PeriodLimit, Player, WagerLimit

from .errors import CurrencyMismatch, WithdrawalNotFound
from .models import (
    MonitoringAlert,
    MonitoringCursor,
    RollbackTombstone,
    StaffDayTotal,
    StaffMovement,
    Wallet,
    Withdrawal,
    WithdrawalEvent,
)


def wallet_get(*, player: Player, currency: str) -> Wallet:
    wallet = Wallet.objects.filter(player=player, currency_id=currency).first()
    if wallet is None:
        raise CurrencyMismatch(f"Player {player.player_id} has no {currency} wallet.")
    return wallet


def player_wallets(*, player: Player) -> QuerySet[Wallet]:
    return Wallet.objects.filter(player=player).order_by("currency_id")


def wallet_movements(
    *, player: Player, currency: str, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Entry]:
    """The entries of the player's wallet in `currency` (none without one) with their journal
    transactions, newest first; `until` exclusive. One account's entries in time order are
    what entry_account_time_idx holds, so a page reads only its own rows however long the
    history."""
    wallet = Wallet.objects.filter(player=player, currency_id=currency).first()
    if wallet is None:
        return Entry.objects.none()
    entries = Entry.objects.filter(account_id=wallet.account_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return entries.select_related("transaction").order_by("-created_at", "-id")


def tombstone_exists(*, provider_code: str, transaction_id: str) -> bool:
    """Did a rollback for this debit arrive first? Read on every debit, so plain SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {RollbackTombstone._meta.db_table} WHERE provider_code = %s AND transaction_id = %s",
            [provider_code, transaction_id],
        )
        return cursor.fetchone() is not None


GAMING_KINDS = (JournalTransaction.Kind.DEBIT, JournalTransaction.Kind.CREDIT, JournalTransaction.Kind.ROLLBACK)


def limit_period_starts(now: datetime) -> dict[str, datetime]:
    """UTC calendar day, ISO week (from Monday) and calendar month."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        PeriodLimit.Period.DAY: day,
        PeriodLimit.Period.WEEK: day - timedelta(days=day.weekday()),
        PeriodLimit.Period.MONTH: day.replace(day=1),
    }


def limit_period_end(period: str, start: datetime) -> datetime:
    """Where the period that starts at `start` ends (the next one's start), as
    casino_limit_period_end reckons it in the database."""
    if period == PeriodLimit.Period.DAY:
        return start + timedelta(days=1)
    if period == PeriodLimit.Period.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


# The wallet's entries that are bets less those rolled back: a debit takes money out, and a
# rollback that gives it back (money in; one that takes back a win is money out) undoes it.
# wallet_activity's `wagered` and the low-play monitoring rule read these; a wager limit reads
# them with its period's rule (wallet_wagers).
WAGER_ENTRIES = Q(transaction__kind=JournalTransaction.Kind.DEBIT) | Q(
    transaction__kind=JournalTransaction.Kind.ROLLBACK, amount__gt=0
)


def _stamped_since(start: datetime) -> Q:
    return Q(created_at__gte=start)


def _wallet_period_sums(
    *,
    wallet: Wallet,
    periods: Iterable[str],
    now: datetime,
    entries: Q,
    counted: Callable[[datetime], Q] = _stamped_since,
) -> dict[str, int]:
    """The sum of the wallet's `entries` in each period so far (those `counted` from its
    start: stamped in it, unless the caller says otherwise); one query over the longest
    period. Up to the period's end: a movement judged in the next period but committed
    first (a win at midnight, while this bet waited for the wallet's lock) is not this
    period's."""
    wanted = set(periods)
    starts = {p: s for p, s in limit_period_starts(now).items() if p in wanted}
    if not starts:
        return {}
    ends = {p: limit_period_end(p, start) for p, start in starts.items()}
    sums = (
        Entry.objects.filter(
            account_id=wallet.account_id, created_at__gte=min(starts.values()), created_at__lt=max(ends.values())
        )
        .filter(entries)
        .aggregate(
            **{p: Sum("amount", filter=counted(start) & Q(created_at__lt=ends[p])) for p, start in starts.items()}
        )
    )
    return {p: sums[p] or 0 for p in starts}


def wallet_net_losses(*, wallet: Wallet, periods: Iterable[str], now: datetime) -> dict[str, int]:
    """Net loss (debits - credits - rollbacks, as the wallet's entries say) in each period so
    far; what a loss limit is held against. A rollback counts when it is made: a bet lost
    yesterday and paid back today is yesterday's loss and today's gain, which over the two
    days nets out."""
    sums = _wallet_period_sums(wallet=wallet, periods=periods, now=now, entries=Q(transaction__kind__in=GAMING_KINDS))
    return {p: -amount for p, amount in sums.items()}


def _bets_of_the_period(start: datetime) -> Q:
    # A rollback gives room back only for a bet of the same period: a bet of yesterday paid
    # back today was never today's wager, so it makes no room today.
    return _stamped_since(start) & (
        Q(transaction__kind=JournalTransaction.Kind.DEBIT) | Q(transaction__reverses__created_at__gte=start)
    )


def wallet_wagers(*, wallet: Wallet, periods: Iterable[str], now: datetime) -> dict[str, int]:
    """What was wagered in each period so far: the period's bets less those of them rolled
    back, wins not deducted; what a wager limit is held against (the debit's SQL function
    counts the same)."""
    sums = _wallet_period_sums(
        wallet=wallet, periods=periods, now=now, entries=WAGER_ENTRIES, counted=_bets_of_the_period
    )
    return {p: -amount for p, amount in sums.items()}


def wallet_deposits(*, wallet: Wallet, periods: Iterable[str], now: datetime) -> dict[str, int]:
    """Deposits into the wallet in each period so far, from the cashier and the admin alike;
    what a deposit limit is held against. Withdrawals do not make room again."""
    return _wallet_period_sums(
        wallet=wallet, periods=periods, now=now, entries=Q(transaction__kind=JournalTransaction.Kind.DEPOSIT)
    )


def wallet_deposited_total(*, wallet: Wallet | None) -> int:
    """Everything ever deposited into the wallet (cashier and admin alike, gross: withdrawals do
    not make room again); what the KYC deposit threshold is held against. It reads the
    wallet's entries through their (account, time) index, so a long history costs more; it is
    asked only of players who are not verified."""
    if wallet is None:
        return 0
    total = Entry.objects.filter(account_id=wallet.account_id, transaction__kind=JournalTransaction.Kind.DEPOSIT)
    return total.aggregate(total=Sum("amount"))["total"] or 0


# How far back staff look at a wallet's activity: the withdrawal review page (before the
# request) and the player's page (before now).
ACTIVITY_LOOKBACK = timedelta(days=30)

# What a statement says, in this order: wallet_activity's answer.
STATEMENT_FIGURES = (
    "opening_balance",
    "deposited",
    "withdrawn",
    "returned",
    "adjusted",
    "wagered",
    "won",
    "net",
    "closing_balance",
)


def player_statement(
    *, player: Player, currency: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, int]:
    """`wallet_activity` of the player's wallet in `currency`; all 0 without one."""
    wallet = Wallet.objects.filter(player=player, currency_id=currency).first()
    if wallet is None:
        return dict.fromkeys(STATEMENT_FIGURES, 0)
    return wallet_activity(wallet=wallet, since=since, until=until)


def wallet_activity(*, wallet: Wallet, since: datetime | None = None, until: datetime | None = None) -> dict[str, int]:
    """The wallet's statement from `since` (its first movement if None) until `until`
    (exclusive; now if None): the balance at each end and what moved it in between, by what
    it was: deposited, withdrawn (gross, as asked for), returned (withdrawals that came
    back: rejected, cancelled, payouts that failed), adjusted by staff (signed), wagered
    (bets less those rolled back), won (wins less those taken back), and `net` = won -
    wagered, the player's result at play. opening + deposited - withdrawn + returned +
    adjusted - wagered + won = closing, to the minor unit.

    A reviewer of a withdrawal reads it (deposits withdrawn soon after, with little wagered,
    are what anti-money-laundering reviews look for), and a casino's reality check shows
    the player their result since they logged in. The balance and the entries are read in
    one snapshot, and only the entries since `since`, through the (account, time) index:
    the opening balance is the balance less what came after."""
    kind = JournalTransaction.Kind

    def of(*kinds: str) -> Q:
        return in_period & Q(transaction__kind__in=kinds)

    in_period = Q(created_at__lt=until) if until is not None else Q()
    # A rollback gives back a bet (money in: WAGER_ENTRIES) or takes back a win (money out).
    rollback_out = of(kind.ROLLBACK) & Q(amount__lt=0)
    entries = Entry.objects.filter(account_id=wallet.account_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    sums = {
        "deposited": Sum("amount", filter=of(kind.DEPOSIT)),
        "withdrawn": Sum("amount", filter=of(kind.WITHDRAWAL) & Q(amount__lt=0)),
        "returned": Sum("amount", filter=of(kind.WITHDRAWAL) & Q(amount__gt=0)),
        "adjusted": Sum("amount", filter=of(kind.ADJUSTMENT)),
        "wagered": Sum("amount", filter=in_period & WAGER_ENTRIES),
        "won": Sum("amount", filter=of(kind.CREDIT) | rollback_out),
        "moved": Sum("amount", filter=in_period),
    }
    if until is not None:
        sums["later"] = Sum("amount", filter=Q(created_at__gte=until))
    with read_snapshot():
        balance = Wallet.objects.filter(pk=wallet.pk).values_list("balance", flat=True).get()
        totals = {name: total or 0 for name, total in entries.aggregate(**sums).items()}
    closing = balance - totals.get("later", 0)
    return {
        "opening_balance": closing - totals["moved"],
        "deposited": totals["deposited"],
        "withdrawn": -totals["withdrawn"],
        "returned": totals["returned"],
        "adjusted": totals["adjusted"],
        "wagered": -totals["wagered"],
        "won": totals["won"],
        "net": totals["won"] + totals["wagered"],
        "closing_balance": closing,
    }


@dataclass(frozen=True, slots=True)
class LimitCrossed:
    period: str
    limit: int
    so_far: int


def period_limit_crossed(
    *,
    model: type[PeriodLimit],
    player: Player,
    currency: str,
    wallet: Wallet | None,
    amount: int,
    now: datetime,
    used: Callable[..., dict[str, int]],
) -> LimitCrossed | None:
    """The first of the player's limits of this kind in `currency` that `amount` would take
    over, with what the period has used so far (`used`: wallet_net_losses, wallet_wagers or
    wallet_deposits); None if it fits them all. Shortest period first, so a refusal names the
    same period every time. The caller holds the player's lock, so nothing it counts moves
    meanwhile."""
    rows = {limit.period: limit.amount for limit in model.objects.filter(player=player, currency_id=currency)}
    if not rows:
        return None
    limits = {period: rows[period] for period in PeriodLimit.Period.values if period in rows}
    sums = used(wallet=wallet, periods=limits, now=now) if wallet is not None else {}
    for period, limit in limits.items():
        so_far = sums.get(period, 0)
        if so_far + amount > limit:
            return LimitCrossed(period=period, limit=limit, so_far=so_far)
    return None


def _limit_usage(
    *, model: type[PeriodLimit], player: Player, now: datetime, used: Callable[..., dict[str, int]], used_as: str
) -> list[dict[str, Any]]:
    """Each of the player's limits of this kind (by currency, then day, week, month) with what
    it is held against this period (`used_as`), what remains of it, and a change waiting its
    cooling-off. A waiting change whose time has passed is still shown waiting: the limit in
    force holds until the sweep (RG_LIMIT_SWEEP_SECONDS) or the next change of that limit
    puts it in force."""
    order = {period: i for i, period in enumerate(PeriodLimit.Period.values)}
    limits = sorted(model.objects.filter(player=player), key=lambda limit: (limit.currency_id, order[limit.period]))
    wallets = {w.currency_id: w for w in Wallet.objects.filter(player=player)}
    sums: dict[str, dict[str, int]] = {}
    for currency in {limit.currency_id for limit in limits} & set(wallets):
        periods = [limit.period for limit in limits if limit.currency_id == currency]
        sums[currency] = used(wallet=wallets[currency], periods=periods, now=now)
    usage = []
    for limit in limits:
        so_far = sums.get(limit.currency_id, {}).get(limit.period, 0)
        pending = None
        if limit.pending_from is not None:
            pending = {"amount": limit.pending_amount, "effective_from": limit.pending_from}
        usage.append(
            {
                "currency": limit.currency_id,
                "period": limit.period,
                "amount": limit.amount,
                used_as: so_far,
                "remaining": max(0, limit.amount - so_far),
                "pending": pending,
            }
        )
    return usage


def player_loss_limit_usage(*, player: Player, now: datetime) -> list[dict[str, Any]]:
    """Each loss limit with the net loss it is held against this period (see _limit_usage)."""
    return _limit_usage(model=LossLimit, player=player, now=now, used=wallet_net_losses, used_as="net_loss")


def player_wager_limit_usage(*, player: Player, now: datetime) -> list[dict[str, Any]]:
    """Each wager limit with what has been wagered this period (see _limit_usage)."""
    return _limit_usage(model=WagerLimit, player=player, now=now, used=wallet_wagers, used_as="wagered")


def player_deposit_limit_usage(*, player: Player, now: datetime) -> list[dict[str, Any]]:
    """Each deposit limit with what has been deposited this period (see _limit_usage)."""
    return _limit_usage(model=DepositLimit, player=player, now=now, used=wallet_deposits, used_as="deposited")


def withdrawal_get(*, reference: str, player_id: str | None = None, currency: str | None = None) -> Withdrawal:
    """The withdrawal with this reference; with `player_id` or `currency`, only one from that
    player's wallet or in that currency is found."""
    # Imported here: wallet.services imports this module.
    from .services.common import validate_transaction_id

    validate_transaction_id(reference, "reference")
    withdrawals = Withdrawal.objects.filter(reference=reference).select_related("wallet__player")
    if player_id is not None:
        withdrawals = withdrawals.filter(wallet__player__player_id=player_id)
    if currency is not None:
        withdrawals = withdrawals.filter(wallet__currency_id=currency)
    withdrawal = withdrawals.first()
    if withdrawal is None:
        whose = f" of player {player_id!r}" if player_id is not None else ""
        raise WithdrawalNotFound(f"No withdrawal {reference!r}{whose}.")
    return withdrawal


def player_withdrawals(
    *, player: Player, status: str | None = None, currency: str | None = None
) -> QuerySet[Withdrawal]:
    """The player's withdrawals with a reference, newest first; only those in `status` or in
    `currency` when given."""
    withdrawals = Withdrawal.objects.filter(wallet__player=player).select_related("wallet__player")
    if status is not None:
        withdrawals = withdrawals.filter(status=status)
    if currency is not None:
        withdrawals = withdrawals.filter(wallet__currency_id=currency)
    return withdrawals.order_by("-requested_at", "-id")


def _player_wallet_ids(player_id: str) -> list[int]:
    """The keys of the wallets of the player with this id; none for no such player."""
    return list(Wallet.objects.filter(player__player_id=player_id).values_list("pk", flat=True))


def withdrawal_search(queryset: QuerySet[Withdrawal], term: str) -> QuerySet[Withdrawal]:
    """Staff's search of the withdrawals by a reference or a player id, each by its index (the
    reference's unique key; the withdrawals' wallet key, the player's wallets found first), as
    sessions.selectors.round_search does. The plain OR of the reference and the joined
    player's id read every withdrawal."""
    term = term.strip()
    if not term:
        return queryset
    return queryset.filter(Q(reference=term) | Q(wallet_id__in=_player_wallet_ids(term)))


def tombstone_search(queryset: QuerySet[RollbackTombstone], term: str) -> QuerySet[RollbackTombstone]:
    """Staff's search of the rollback tombstones by the debit's transaction id or a player id,
    each by its index: the tombstones' key is (provider, transaction id), so the search names
    every provider that has one (read along that key); a player's by tombstone_player_idx.
    The plain OR of the two read every tombstone."""
    term = term.strip()
    if not term:
        return queryset
    providers = values_along_index(RollbackTombstone, "provider_code")
    return queryset.filter(Q(provider_code__in=providers, transaction_id=term) | Q(player_id_text=term))


def staff_movement_search(queryset: QuerySet[StaffMovement], term: str) -> QuerySet[StaffMovement]:
    """Staff's search of the staff movements by a player id, staff's reference or who asked,
    each by its index (the movements' wallet key, the player's wallets found first;
    staff_movement_ref_idx, staff_movement_by_idx). The plain OR of the
    row's columns and the joined player's id read every movement."""
    term = term.strip()
    if not term:
        return queryset
    return queryset.filter(Q(reference=term) | Q(requested_by=term) | Q(wallet_id__in=_player_wallet_ids(term)))


def withdrawal_event_search(queryset: QuerySet[WithdrawalEvent], term: str) -> QuerySet[WithdrawalEvent]:
    """Staff's search of the withdrawal events by their withdrawal's reference or player id:
    the withdrawals found by withdrawal_search, then their events by the events' withdrawal
    key. The plain OR over the joined withdrawal and player read every event."""
    term = term.strip()
    if not term:
        return queryset
    return queryset.filter(withdrawal_id__in=withdrawal_search(Withdrawal.objects.all(), term).values("pk"))


def monitoring_alert_search(queryset: QuerySet[MonitoringAlert], term: str) -> QuerySet[MonitoringAlert]:
    """Staff's search of the monitoring alerts by a player id, the journal transaction that
    raised one, or a report's reference, each by its index (the alerts' wallet and journal
    keys, the player's wallets found first; monitoring_alert_report_idx). The plain OR of
    the row's columns and the joined player's id read every alert."""
    term = term.strip()
    if not term:
        return queryset
    # Never "": the reference's match is within the index, which holds the reported alerts only.
    match = Q(wallet_id__in=_player_wallet_ids(term)) | Q(report_reference=term)
    if (journal_id := bigint_or_none(term)) is not None:
        match |= Q(journal_id=journal_id)
    return queryset.filter(match)


def withdrawal_events_after(*, after: tuple[int, int] | None, limit: int) -> list[WithdrawalEvent]:
    """The withdrawal events after the feed position `after` ((txid, id) of the last one read;
    None: from the first), at most `limit`, in the feed's order: by the writing transaction,
    and only those of transactions that have finished, so an event that commits later always
    comes after every one given out now and a reader that goes on from its last position
    misses none (`WithdrawalEvent.txid`). An open transaction holds back the events of those
    that began after it until it ends."""
    events = WithdrawalEvent.objects.filter(txid__lt=FinishedTransactionsBelow())
    if after is not None:
        txid, event_id = after
        # The first condition bounds the index scan; the second is the row comparison.
        events = events.filter(txid__gte=txid).filter(Q(txid__gt=txid) | Q(id__gt=event_id))
    return list(events.order_by("txid", "id")[:limit])


def _per_currency(rows: Iterable[Mapping[str, Any]], *, empty: dict[str, Any]) -> list[dict[str, Any]]:
    """Every currency on the platform in code order, each with its aggregate row of `rows`
    (keyed by `currency_code`) or `empty`, so a gauge has its series at 0 when nothing counts."""
    found = {row["currency_code"]: row for row in rows}
    return [
        {**empty, **{k: v for k, v in found.get(code, {}).items() if k != "currency_code"}, "currency": code}
        for code in Currency.objects.order_by("code").values_list("code", flat=True)
    ]


def withdrawals_pending_summary() -> list[dict[str, Any]]:
    """Per currency on the platform: how many withdrawals wait for staff, what they hold and
    the oldest request (None when none waits), through the pending-only index."""
    return _per_currency(
        Withdrawal.objects.filter(status=Withdrawal.Status.PENDING)
        .values(currency_code=F("wallet__currency_id"))
        .annotate(count=Count("pk"), amount=Sum("amount"), oldest=Min("requested_at")),
        empty={"count": 0, "amount": 0, "oldest": None},
    )


def closed_accounts_holding_money_summary() -> list[dict[str, Any]]:
    """Per currency: how many closed accounts still hold money and how much (minor units).
    A closed account's balance is the player's, owed until the operator pays it out; the
    closed players are read through their partial index."""
    return _per_currency(
        Wallet.objects.filter(player__status=Player.Status.CLOSED, balance__gt=0)
        .values(currency_code=F("currency_id"))
        .annotate(count=Count("pk"), amount=Sum("balance")),
        empty={"count": 0, "amount": 0},
    )


def staff_movements_waiting_summary() -> list[dict[str, Any]]:
    """Per currency: the staff movements waiting for a second member of staff (an approval
    left unfinished included) and the oldest request, through the open-only index."""
    return _per_currency(
        StaffMovement.objects.filter(status__in=[StaffMovement.Status.PENDING, StaffMovement.Status.APPROVING])
        .values(currency_code=F("wallet__currency_id"))
        .annotate(count=Count("pk"), oldest=Min("requested_at")),
        empty={"count": 0, "oldest": None},
    )


def staff_moved_alone_today(*, staff: str, currency: str) -> int:
    """What `staff` moved alone today (UTC) in `currency` on "Move money…": minor units, the
    sum of amounts of either sign, held against the currency's `staff_daily_allowance`."""
    today = clock.now().date()
    moved = StaffDayTotal.objects.filter(staff=staff, currency_id=currency, day=today).values_list("moved", flat=True)
    return moved.first() or 0


def monitoring_alerts_pending_summary() -> list[dict[str, Any]]:
    """Per currency on the platform and rule: the monitoring alerts waiting for staff and when
    the longest-waiting was raised (0 and None when none waits), through the pending-only index."""
    rows = (
        MonitoringAlert.objects.filter(status=MonitoringAlert.Status.PENDING)
        .values("rule", currency_code=F("wallet__currency_id"))
        .annotate(count=Count("pk"), oldest=Min("raised_at"))
    )
    found: dict[tuple[str, str], dict[str, Any]] = {(row["currency_code"], row["rule"]): dict(row) for row in rows}
    none_waiting = {"count": 0, "oldest": None}
    return [
        {
            "currency": code,
            "rule": rule,
            "count": found.get((code, rule), none_waiting)["count"],
            "oldest": found.get((code, rule), none_waiting)["oldest"],
        }
        for code in Currency.objects.order_by("code").values_list("code", flat=True)
        for rule in MonitoringAlert.Rule.values
    ]


def monitoring_scanned_until() -> datetime | None:
    """How far the monitoring sweep has read the journal; None before its first sweep."""
    return (
        MonitoringCursor.objects.filter(name=MonitoringCursor.JOURNAL).values_list("scanned_until", flat=True).first()
    )


def monitoring_alert_deposits(*, alert: MonitoringAlert) -> QuerySet[Entry]:
    """The deposits to the alert's wallet in the 24 hours up to the one that raised it (a
    `deposits_24h` alert's total), oldest first, with their journal transactions."""
    from .services.monitoring import deposits_within_24h_of

    return (
        Entry.objects.filter(deposits_within_24h_of(alert.occurred_at, alert.journal_id))
        .filter(account_id=alert.wallet.account_id)
        .select_related("transaction")
        .order_by("transaction__created_at", "transaction_id")
    )


# An export of monitoring alerts: its columns, and those in minor units of the row's currency.
MONITORING_ALERT_COLUMNS = (
    "alert_id",
    "rule",
    "status",
    "player_id",
    "currency",
    "amount",
    "deposited",
    "wagered",
    "figure_amount",
    "figure_percent",
    "occurred_at",
    "raised_at",
    "journal_transaction_id",
    "decided_by",
    "decided_at",
    "decision_memo",
    "report_reference",
    # Added after the others, so an import that reads the columns by place keeps working.
    "round_won",
)
MONITORING_ALERT_MONEY = frozenset({"amount", "round_won", "deposited", "wagered", "figure_amount"})


def monitoring_alert_lines(alerts: QuerySet[MonitoringAlert]) -> Iterator[dict[str, Any]]:
    """The alerts as an export's rows, oldest movement first: the alert's total is `round_won`
    for a large win (the round's wins up to it) and `deposited` for the others (24 hours or 30
    days by rule), and the currency's figure is an amount (`figure_amount`) or, for a
    withdrawal with little play, a percentage of deposits (`figure_percent`)."""
    rows = alerts.order_by("occurred_at", "id").values(
        "rule",
        "status",
        "amount",
        "total",
        "wagered",
        "threshold",
        "occurred_at",
        "raised_at",
        "decided_by",
        "decided_at",
        "decision_memo",
        "report_reference",
        alert_id=F("id"),
        player_id=F("wallet__player__player_id"),
        currency=F("wallet__currency_id"),
        journal_transaction_id=F("journal_id"),
    )
    for row in rows.iterator(chunk_size=2000):
        fields: dict[str, Any] = dict(row)
        in_percent = fields["rule"] == MonitoringAlert.Rule.LOW_PLAY_WITHDRAWAL
        of_round = fields["rule"] == MonitoringAlert.Rule.LARGE_WIN
        threshold = fields.pop("threshold")
        total = fields.pop("total")
        yield {
            **fields,
            "round_won": total if of_round else None,
            "deposited": None if of_round else total,
            "figure_amount": None if in_percent else threshold,
            "figure_percent": threshold if in_percent else None,
        }
