"""Anti-money-laundering monitoring: movements a currency's rules ask staff to look at.

- `large_win`: a win (a provider's credit, of any reason) to a player's wallet of more than the
  currency's `large_win_above`, or the win that takes its round's wins to the wallet over it
  (free spins or a tournament paid in many credits, each under the figure); the round's wins
  after that raise nothing more unless one is over the figure on its own.
- `deposits_24h`: the deposit that takes a player's deposits in the 24 hours up to it over the
  currency's `deposits_24h_above` (gross, the cashier's and staff's alike; later deposits in
  the same 24 hours raise nothing more, one that crosses it again after older ones have left
  the 24 hours does).
- `low_play_withdrawal`: a withdrawal by a player who wagered (bets less those rolled back)
  less than the currency's `low_play_withdrawal_percent` of what they deposited in the 30 days
  before it: money in and out with little play, the pattern of laundering through a wallet.

The rules read the journal after the fact, in a Celery beat sweep, and never touch the wallet
calls: a debit or credit pays no query for them, and nothing is refused by them (the rules that
refuse are the responsible-gambling limits and KYC). A journal transaction is stamped before
it waits for its locks and commits, so one stamped just before a sweep's end may commit after
the sweep read that stretch; each sweep therefore starts `MONITORING_SETTLE_SECONDS` before
where the last one ended, and an alert is raised once per rule and movement however often its
stretch is read (the `monitoring_alert_once` key). Sweeps never run side by side: one takes
its turn (`exclusive_turn`, an advisory lock that gives its transaction no id) and one that
finds it taken skips. A sweep writes only once it has read, so that its read, a day's journal
after an outage, holds back nothing (an open transaction that writes holds back the
withdrawal-event feed). Once a night yesterday is read again whole, for a movement
slower than the settle time to commit.

Staff clear an alert (nothing suspicious, say why) or report it (a suspicious activity report
filed with the authority, its reference kept): once, under the alert's lock.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, Case, F, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from casino_platform import clock
from casino_platform.db import exclusive_turn
from casino_platform.errors import ValidationFailed
from ledger.models import Account, Entry, JournalTransaction

from ..errors import AlertAlreadyDecided
from ..models import MonitoringAlert, MonitoringCursor
from ..selectors import WAGER_ENTRIES

Rule = MonitoringAlert.Rule
Status = MonitoringAlert.Status
CURSOR = MonitoringCursor.JOURNAL
# The nightly re-read's own cursor, and how far back it catches up nights it did not run.
REREAD_CURSOR = MonitoringCursor.NIGHTLY
REREAD_CATCH_UP = timedelta(days=7)
DEPOSIT_WINDOW = timedelta(hours=24)
PLAY_WINDOW = timedelta(days=30)
DEPOSITED = Q(transaction__kind=JournalTransaction.Kind.DEPOSIT, amount__gt=0)
# With no sweep before it, the first one reads the last day: a platform that turns monitoring
# on is not flooded with its whole history (`manage.py monitoring_sweep --since` reads that).
FIRST_LOOK_BACK = timedelta(hours=24)
# The most one sweep reads past its cursor.
MAX_SWEEP = timedelta(days=1)
MEMO_MAX = MonitoringAlert._meta.get_field("decision_memo").max_length or 500
REFERENCE_MAX = MonitoringAlert._meta.get_field("report_reference").max_length or 128


@dataclass
class SweepResult:
    since: datetime
    until: datetime
    raised: dict[str, int] = field(default_factory=lambda: {rule: 0 for rule in Rule.values})
    skipped: bool = False  # another sweep held the cursor

    @property
    def total(self) -> int:
        return sum(self.raised.values())


def _settle() -> timedelta:
    return timedelta(seconds=settings.MONITORING_SETTLE_SECONDS)


def _wallet_entries(kind: str, since: datetime, until: datetime, *, money_in: bool = True) -> QuerySet[Entry]:
    """Entries on players' wallets of the journal transactions of `kind` stamped in [since,
    until): money into the wallet, or out of it (`money_in` False)."""
    return Entry.objects.filter(
        transaction__kind=kind,
        transaction__created_at__gte=since,
        transaction__created_at__lt=until,
        account__kind=Account.Kind.PLAYER_WALLET,
        **({"amount__gt": 0} if money_in else {"amount__lt": 0}),
    )


def _large_wins(since: datetime, until: datetime) -> QuerySet[Entry]:
    # The wins to the wallet in the credit's round up to and including it, in journal order (a
    # round is the provider's: provider and round id both match), looked up through the
    # journal's (provider, round) index per credit read; the credit itself pays nothing for it.
    round_won = Subquery(
        Entry.objects.filter(
            transaction__kind=JournalTransaction.Kind.CREDIT,
            amount__gt=0,
            transaction_id__lte=OuterRef("transaction_id"),
            account=OuterRef("account"),
            transaction__provider_code=OuterRef("transaction__provider_code"),
            transaction__round_id=OuterRef("transaction__round_id"),
        )
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=BigIntegerField(),
    )
    over = F("currency__large_win_above")
    return (
        _wallet_entries(JournalTransaction.Kind.CREDIT, since, until)
        .filter(currency__large_win_above__isnull=False)
        .annotate(
            moved=F("amount"),
            # A credit without a round id (the API requires one) is a round of its own.
            total=Case(When(transaction__round_id="", then=F("amount")), default=round_won),
            wagered=Value(None, output_field=BigIntegerField()),
            threshold=over,
        )
        .annotate(total_before=F("total") - F("amount"))
        # Over the figure on its own, or the one that takes the round's wins over it (the
        # wins before it at most the figure; a difference, so no figure can overflow it).
        .filter(Q(amount__gt=over) | Q(total__gt=over, total_before__lte=over))
    )


def _deposits_over_24h(since: datetime, until: datetime) -> QuerySet[Entry]:
    # The wallet's deposits in the 24 hours up to and including this one, by their journal
    # transactions' stamps; those stamped at the same instant count up to this one's journal
    # transaction, so of two that cross together only one raises.
    return (
        _wallet_entries(JournalTransaction.Kind.DEPOSIT, since, until)
        .filter(currency__deposits_24h_above__isnull=False)
        .annotate(
            moved=F("amount"),
            total=_wallet_sum(DEPOSITED, DEPOSIT_WINDOW),
            wagered=Value(None, output_field=BigIntegerField()),
            threshold=F("currency__deposits_24h_above"),
        )
        .annotate(total_before=F("total") - F("amount"))
        .filter(total__gt=F("threshold"), total_before__lte=F("threshold"))
    )


# Entries written on SQLite before every leg carried its transaction's time were stamped an
# instant after it, each as it was written.
ENTRY_STAMP_SLACK = timedelta(seconds=1)


def stamped_within(window: timedelta, stamp: Any, journal_id: Any) -> Q:
    """Entries whose journal transaction is stamped in the `window` up to `stamp`, and at `stamp`
    itself up to journal transaction `journal_id`. An entry carries its journal transaction's
    stamp (ledger_post), so the bounds on the entry's own stamp, at both ends of the window,
    only let the (account, time) index find them: without the upper one, a movement of a
    year ago read every entry of the account since."""
    since = stamp - window
    return Q(created_at__gt=since, created_at__lte=stamp + ENTRY_STAMP_SLACK, transaction__created_at__gt=since) & (
        Q(transaction__created_at__lt=stamp) | Q(transaction__created_at=stamp, transaction_id__lte=journal_id)
    )


def deposits_within_24h_of(stamp: Any, journal_id: Any) -> Q:
    """Deposit entries stamped in the 24 hours up to `stamp` (`stamped_within`)."""
    return DEPOSITED & stamped_within(DEPOSIT_WINDOW, stamp, journal_id)


def _wallet_sum(entries: Q, window: timedelta) -> Subquery:
    """The sum of the outer entry's wallet's `entries` in the `window` up to it (0 for none)."""
    return Subquery(
        Entry.objects.filter(
            entries, stamped_within(window, OuterRef("transaction__created_at"), OuterRef("transaction_id"))
        )
        .filter(account=OuterRef("account"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=BigIntegerField(),
    )


def _low_play_withdrawals(since: datetime, until: datetime) -> QuerySet[Entry]:
    # Wagered as the statement counts it (WAGER_ENTRIES): bets, less those a rollback gave back.
    kind = JournalTransaction.Kind
    return (
        _wallet_entries(kind.WITHDRAWAL, since, until, money_in=False)
        .filter(currency__low_play_withdrawal_percent__isnull=False)
        .annotate(
            moved=-F("amount"),
            total=Coalesce(_wallet_sum(DEPOSITED, PLAY_WINDOW), 0),
            wagered=-Coalesce(_wallet_sum(WAGER_ENTRIES, PLAY_WINDOW), 0),
            threshold=F("currency__low_play_withdrawal_percent"),
        )
        .annotate(wagered_x100=F("wagered") * 100)
        # In whole minor units: wagered / deposited < percent / 100.
        .filter(total__gt=0, wagered_x100__lt=F("threshold") * F("total"))
    )


# Each rule's matches are entries annotated with `moved` (the alert's amount), `total`,
# `wagered` and `threshold`, whether or not they have an alert already.
_RULES: dict[str, Callable[[datetime, datetime], QuerySet[Any]]] = {
    Rule.LARGE_WIN: _large_wins,
    Rule.DEPOSITS_24H: _deposits_over_24h,
    Rule.LOW_PLAY_WITHDRAWAL: _low_play_withdrawals,
}


Found = list[tuple[str, tuple]]


def _found(*, since: datetime, until: datetime) -> Found:
    """Every rule's matches among the journal transactions stamped in [since, until) that have
    no alert of it yet. Reads only: run outside a writing transaction."""
    found: Found = []
    for rule, matches in _RULES.items():
        # Movements with this rule's alert are left out here; one raised meanwhile by a racing
        # backfill is left out by the key (get_or_create below).
        rows = (
            matches(since, until)
            .exclude(transaction__monitoring_alerts__rule=rule)
            .values_list(
                "transaction_id", "account__wallet", "moved", "total", "wagered", "threshold", "transaction__created_at"
            )
        )
        found.extend((rule, row) for row in rows.order_by("transaction_id"))
    return found


def _alerts_raise(found: Found, *, raised_at: datetime) -> dict[str, int]:
    """Raises the alerts `_found` found, each once (the key); how many were new, per rule.
    Inside the caller's transaction."""
    raised = dict.fromkeys(_RULES, 0)
    for rule, (journal_id, wallet_id, amount, total, wagered, threshold, occurred_at) in found:
        _, created = MonitoringAlert.objects.get_or_create(
            rule=rule,
            journal_id=journal_id,
            defaults={
                "wallet_id": wallet_id,
                "amount": amount,
                "total": total,
                "wagered": wagered,
                "threshold": threshold,
                "occurred_at": occurred_at,
                "raised_at": raised_at,
            },
        )
        raised[rule] += created
    return raised


def monitoring_scan(*, since: datetime, until: datetime, raised_at: datetime) -> dict[str, int]:
    """Raises every rule's alerts for the journal transactions stamped in [since, until) that
    have none yet; how many it raised, per rule. Read first, then written in a transaction
    of its own."""
    found = _found(since=since, until=until)
    with transaction.atomic(durable=True):
        return _alerts_raise(found, raised_at=raised_at)


def monitoring_sweep() -> SweepResult:
    """The scheduled sweep: the journal from where the last sweep ended (less the settle time)
    to now, or a day of it when it is further behind (after an outage it catches up a day per
    sweep). Skips its turn when another sweep is running."""
    start = clock.now()
    MonitoringCursor.objects.bulk_create(
        [MonitoringCursor(name=CURSOR, scanned_until=start - FIRST_LOOK_BACK, swept_at=start)], ignore_conflicts=True
    )
    with exclusive_turn(f"monitoring_sweep:{CURSOR}") as mine:
        if not mine:
            return SweepResult(since=start, until=start, skipped=True)
        cursor = MonitoringCursor.objects.get(name=CURSOR)
        now = clock.now()  # with the turn, not at the start: one taken after another sweep ended reads no less
        until = max(cursor.scanned_until, min(now, cursor.scanned_until + MAX_SWEEP))
        result = SweepResult(since=cursor.scanned_until - _settle(), until=until)
        found = _found(since=result.since, until=result.until)
        # The transaction's first writes: it has had no id, holding nothing back, until here.
        result.raised = _alerts_raise(found, raised_at=now)
        MonitoringCursor.objects.filter(name=CURSOR).update(scanned_until=until, swept_at=now)
    return result


def monitoring_reread_yesterday() -> SweepResult:
    """Yesterday's journal (UTC) read again, once a night: the sweep reads the settle time again
    and no further, so this is what catches a movement that took longer than that from its stamp
    to its commit (nothing in the wallet calls bounds their lock waits). A night it did not run
    (the workers down) is read with the next, up to REREAD_CATCH_UP back; its own cursor says
    which days were read. Each day is read and raised as a backfill's; two re-reads side by
    side (beat runs one a night) would only read the same days twice."""
    today = datetime.combine(clock.now().date(), time(), UTC)
    done = MonitoringCursor.objects.filter(name=REREAD_CURSOR).values_list("scanned_until", flat=True).first()
    since = today - timedelta(days=1) if done is None else max(done, today - REREAD_CATCH_UP)
    if since >= today:
        return SweepResult(since=today, until=today)
    result = monitoring_backfill(since=since, until=today)
    with transaction.atomic():
        cursor, created = MonitoringCursor.objects.select_for_update().get_or_create(
            name=REREAD_CURSOR, defaults={"scanned_until": today, "swept_at": clock.now()}
        )
        if not created and cursor.scanned_until < today:
            cursor.scanned_until, cursor.swept_at = today, clock.now()
            cursor.save(update_fields=["scanned_until", "swept_at"])
    return result


def monitoring_backfill(
    *, since: datetime, until: datetime, progress: Callable[[SweepResult], None] | None = None
) -> SweepResult:
    """Reads [since, until) of the journal a day at a time, each day's alerts raised in a
    transaction of their own, as the sweep would have: for a platform that turns a rule on and wants its history read,
    or a sweep that was off longer than the first look-back. Leaves the sweep's cursor alone."""
    if since >= until:
        raise ValidationFailed("The start must be before the end.", details={"since": ["after_until"]})
    result = SweepResult(since=since, until=until)
    day_start = since
    # Days before the journal's first movement hold nothing: skip them whole, keeping to days.
    oldest = JournalTransaction.objects.aggregate(oldest=Min("created_at"))["oldest"]
    if oldest is None or oldest >= until:
        return result
    if oldest > since:
        day_start = since + (oldest - since) // timedelta(days=1) * timedelta(days=1)
    while day_start < until:
        day_end = min(day_start + timedelta(days=1), until)
        raised = monitoring_scan(since=day_start, until=day_end, raised_at=clock.now())
        for rule, count in raised.items():
            result.raised[rule] += count
        if progress is not None:
            progress(SweepResult(since=day_start, until=day_end, raised=raised))
        day_start = day_end
    return result


def monitoring_alert_decide(
    *, alert_id: int, staff: str, decision: str, memo: str, report_reference: str = ""
) -> MonitoringAlert:
    """Staff clear an alert ('clear', nothing suspicious) or report it ('report', with the
    reference of the report filed): once, under the alert's lock."""
    memo, report_reference = memo.strip(), report_reference.strip()
    if decision not in ("clear", "report"):
        raise ValidationFailed(f"Unknown decision {decision!r}.", details={"decision": ["invalid"]})
    if not memo:
        raise ValidationFailed("Say why: a decision needs a reason.", details={"memo": ["required"]})
    if len(memo) > MEMO_MAX:
        raise ValidationFailed(f"At most {MEMO_MAX} characters.", details={"memo": ["too_long"]})
    if decision == "report" and not report_reference:
        raise ValidationFailed(
            "A report needs the reference the authority gave it.", details={"report_reference": ["required"]}
        )
    if decision == "clear" and report_reference:
        raise ValidationFailed("A cleared alert has no report.", details={"report_reference": ["not_allowed"]})
    if len(report_reference) > REFERENCE_MAX:
        raise ValidationFailed(f"At most {REFERENCE_MAX} characters.", details={"report_reference": ["too_long"]})
    with transaction.atomic(durable=True):
        alert = MonitoringAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise AlertAlreadyDecided(f"No monitoring alert {alert_id}.", details={"status": None})
        if alert.status != Status.PENDING:
            raise AlertAlreadyDecided(
                f"Monitoring alert {alert.pk} is {alert.status} already.", details={"status": alert.status}
            )
        alert.status = Status.CLEARED if decision == "clear" else Status.REPORTED
        alert.decided_by, alert.decided_at, alert.decision_memo = staff, clock.now(), memo
        alert.report_reference = report_reference
        alert.save(update_fields=["status", "decided_by", "decided_at", "decision_memo", "report_reference"])
    return alert
