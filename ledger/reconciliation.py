"""Proofs that the books are right, as SQL over the journal.

1. Every journal transaction's entries sum to zero per currency.
2. Every cached balance (registered by the app that owns it: wallets) equals the sum of
   its ledger account's entries, and every account of the kind those rows hold that has
   money is some row's account: a wallet row deleted by hand leaves the player's money on an
   account no balance shows.
3. Every account that holds money for records of an app (withdrawals awaiting review) holds,
   per currency, exactly what those records add up to.
4. Every game round's counts and totals are what its journal transactions add up to: every
   round when asked, otherwise those opened or moved since the last run that found none
   drifted (the day before the first run).
The ledger knows nothing of wallets; apps register their cached-balance tables and their
held totals here. The rounds are read where they are (they build on the ledger).

`ledger_reconcile` only reads; `reconcile_run_record` runs it and records the run, which
/metrics reports and the next run starts its rounds from.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models
from django.db.models import Max, Q, Sum

from casino_platform import clock
from casino_platform.db import read_snapshot

from .exports import SETTLING_MARGIN
from .models import Account, Currency, Entry, JournalTransaction, ReconcileRun
from .money import Money

# Rounds compared per statement: each statement short, and the command can say how far it is.
# Small enough that PostgreSQL finds each round's journal, entries and player by index: at
# 10,000 a statement it hash-joined them instead, reading the whole journal, rounds, players
# and accounts for every batch (EXPLAIN ANALYZE on the bench's 250,000 rounds: 251 ms a
# batch, whole tables read; at 500, 10 ms and none read whole, the same 20 us a round).
ROUND_BATCH = 500
# A long check says how far it is at most this often.
PROGRESS_EVERY_SECONDS = 10.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class _CachedBalance:
    model: type[models.Model]
    balance_field: str
    account_field: str
    account_kind: str
    owner_field: str


@dataclass(frozen=True)
class _HeldTotal:
    account_kind: str
    model: type[models.Model]
    amount_field: str
    currency_field: str
    held: Q


_CACHED_BALANCES: list[_CachedBalance] = []
_HELD_TOTALS: list[_HeldTotal] = []


def register_cached_balance(
    model: type[models.Model], *, balance_field: str, account_field: str, account_kind: str, owner_field: str = ""
) -> None:
    """Each `model` row caches in `balance_field` the sum of its ledger account's entries
    (`account_field`, one account per row), and every account of `account_kind` that holds
    money is some row's. `owner_field` (a lookup, e.g. player__player_id) names whose a row
    is in what reconcile prints."""
    entry = _CachedBalance(model, balance_field, account_field, account_kind, owner_field)
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


def _money(amount: int, currency: str, exponent: int | None) -> str:
    """'10.50 EUR (1050)': as people read it, and the minor units the tables hold."""
    if exponent is None:
        return f"{amount} {currency} (minor units of a currency with no row)"
    return f"{Money(amount, currency).format(exponent)} ({amount})"


@dataclass(frozen=True)
class BalanceMismatch:
    table: str
    row_id: int
    account_id: int
    cached: int
    ledger: int
    currency: str
    exponent: int | None
    owner: str = ""  # e.g. "player p_demo_1"

    def describe(self) -> str:
        whose = ", ".join(part for part in (self.owner, self.currency) if part)
        cached = _money(self.cached, self.currency, self.exponent)
        ledger = _money(self.ledger, self.currency, self.exponent)
        account = f"account {self.account_id}"
        return f"{self.table} {self.row_id} ({whose}): cached balance {cached} != ledger {ledger} ({account})"


@dataclass(frozen=True)
class UnownedAccount:
    """An account of a kind every one of which belongs to a row (a player's wallet) that
    holds money and belongs to none: money owed that no balance shows."""

    account_id: int
    key: str
    kind: str
    table: str
    ledger: int
    currency: str
    exponent: int | None

    def describe(self) -> str:
        held = _money(self.ledger, self.currency, self.exponent)
        return f"account {self.account_id} {self.key} ({self.kind}) holds {held} and no {self.table} row has it"


@dataclass(frozen=True)
class HeldMismatch:
    """An account holding money for records (withdrawals pending) that holds another sum."""

    account_kind: str
    currency: str
    account_id: int | None
    recorded: int
    ledger: int
    records: str
    exponent: int | None = None

    def describe(self) -> str:
        account = f"account {self.account_id}" if self.account_id is not None else "no account"
        held = _money(self.ledger, self.currency, self.exponent)
        recorded = _money(self.recorded, self.currency, self.exponent)
        where = f"{self.account_kind} {self.currency} ({account})"
        return f"{where}: the ledger holds {held}, the {self.records} add up to {recorded}"


@dataclass(frozen=True)
class UnbalancedJournal:
    """A journal transaction whose entries do not sum to zero in `currency`, or (`entries`
    given) that has fewer than the two entries a movement needs."""

    transaction_id: int
    currency: str
    total: int
    entries: int | None = None
    exponent: int | None = None

    def describe(self) -> str:
        if self.entries is not None:
            return f"journal transaction {self.transaction_id} has {self.entries} entries; a movement has two or more"
        total = _money(self.total, self.currency, self.exponent)
        return f"journal transaction {self.transaction_id} does not balance: {total}"


# A round's cached figures, in the order RoundDrift holds them.
ROUND_FIGURES = ("debit_count", "credit_count", "rollback_count", "total_debited", "total_credited")
_ROUND_AMOUNTS = frozenset({"total_debited", "total_credited"})


@dataclass(frozen=True)
class RoundDrift:
    """A game round whose cached counts or totals are not what its journal says. Credits
    after a rollback are paid or refused on debit_count - rollback_count, and the player's
    game history shows the totals."""

    round_pk: int
    provider_code: str
    round_id: str
    player_id: str
    currency: str
    exponent: int | None
    cached: tuple[int, ...]  # ROUND_FIGURES as the round's row holds them
    journal: tuple[int, ...]  # as its journal transactions add up

    def describe(self) -> str:
        differences = []
        for name, cached, booked in zip(ROUND_FIGURES, self.cached, self.journal, strict=True):
            if cached == booked:
                continue
            if name in _ROUND_AMOUNTS:
                differences.append(
                    f"{name} {_money(cached, self.currency, self.exponent)} != journal "
                    f"{_money(booked, self.currency, self.exponent)}"
                )
            else:
                differences.append(f"{name} {cached} != journal {booked}")
        whose = f"id {self.round_pk}; player {self.player_id}, {self.currency}"
        return f"round {self.provider_code}:{self.round_id} ({whose}): {'; '.join(differences)}"


Mismatch = BalanceMismatch | UnownedAccount | HeldMismatch | RoundDrift
Problem = UnbalancedJournal | Mismatch


@dataclass(frozen=True)
class RoundsWindow:
    """The rounds a run compares when not all of them: those the journal moved since `since`,
    and every round whose id is above `after_round` (opened since, by a movement or not)."""

    since: datetime
    after_round: int


@dataclass
class ReconciliationReport:
    unbalanced: list[UnbalancedJournal] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    accounts_checked: int = 0
    rounds_checked: int = 0
    rounds_window: RoundsWindow | None = None  # None: every round was compared
    rounds_through: int = 0  # the newest round's id when the run started

    @property
    def ok(self) -> bool:
        return not self.unbalanced and not self.mismatches

    @property
    def problem_count(self) -> int:
        return len(self.unbalanced) + len(self.mismatches)

    def problems(self) -> Iterator[Problem]:
        """Every problem found, each with its describe(): the journal's first."""
        yield from self.unbalanced
        yield from self.mismatches


def _unbalanced_journals(exponents: dict[str, int]) -> Iterator[UnbalancedJournal]:
    entries = Entry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT transaction_id, currency, SUM(amount) FROM {entries} "
            "GROUP BY transaction_id, currency HAVING SUM(amount) <> 0 ORDER BY transaction_id"
        )
        for tx_id, currency, total in cursor.fetchall():
            yield UnbalancedJournal(tx_id, currency, int(total), exponent=exponents.get(currency))
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


OWNERS_BATCH = 10_000


def _owners(source: _CachedBalance, row_ids: list[int]) -> dict[int, str]:
    """'player p_demo_1' per row, read only for the rows found wrong."""
    if not source.owner_field or not row_ids:
        return {}
    label = source.owner_field.split("__")[0]
    owners: dict[int, str] = {}
    # In batches: PostgreSQL binds at most 65,535 parameters to a statement, and a run that
    # finds every wallet of a currency wrong (a bad migration, a broken debit function) must
    # still name them, not stop with a traceback and record nothing.
    for start in range(0, len(row_ids), OWNERS_BATCH):
        batch = row_ids[start : start + OWNERS_BATCH]
        rows = source.model._default_manager.filter(pk__in=batch).values_list("pk", source.owner_field)
        owners.update((pk, f"{label} {owner}") for pk, owner in rows)
    return owners


def _balance_mismatches(
    source: _CachedBalance, exponents: dict[str, int]
) -> tuple[int, list[BalanceMismatch | UnownedAccount]]:
    table = source.model._meta.db_table
    balance_col = _column(source.model, source.balance_field)
    account_col = _column(source.model, source.account_field)
    entries, accounts = Entry._meta.db_table, Account._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        (checked,) = cursor.fetchone()
        # Both directions in one statement: each row against its account, and each account of
        # the kind with money against the rows (PostgreSQL sums the entries once for both).
        cursor.execute(
            f"WITH sums AS (SELECT account_id, SUM(amount) AS total FROM {entries} GROUP BY account_id) "
            f"SELECT w.id, a.id, a.key, a.kind, a.currency, w.{balance_col}, COALESCE(s.total, 0) "
            f"FROM {table} w JOIN {accounts} a ON a.id = w.{account_col} LEFT JOIN sums s ON s.account_id = a.id "
            f"WHERE w.{balance_col} <> COALESCE(s.total, 0) "
            "UNION ALL "
            f"SELECT NULL, a.id, a.key, a.kind, a.currency, NULL, s.total "
            f"FROM sums s JOIN {accounts} a ON a.id = s.account_id "
            f"WHERE a.kind = %s AND s.total <> 0 AND NOT EXISTS (SELECT 1 FROM {table} w WHERE w.{account_col} = a.id)",
            [source.account_kind],
        )
        # The rows first, then the accounts no row has.
        rows = sorted(cursor.fetchall(), key=lambda row: (row[0] is None, row[0] or 0, row[1]))
    owners = _owners(source, [row[0] for row in rows if row[0] is not None])
    bad: list[BalanceMismatch | UnownedAccount] = []
    for row_id, account_id, key, kind, currency, cached, total in rows:
        exponent = exponents.get(currency)
        if row_id is None:
            bad.append(UnownedAccount(account_id, key, kind, table, int(total), currency, exponent))
        else:
            owner = owners.get(row_id, "")
            bad.append(BalanceMismatch(table, row_id, account_id, int(cached), int(total), currency, exponent, owner))
    return int(checked), bad


def _held_mismatches(source: _HeldTotal, exponents: dict[str, int]) -> tuple[int, list[HeldMismatch]]:
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
                HeldMismatch(
                    source.account_kind,
                    currency,
                    account_id,
                    recorded.get(currency, 0),
                    held,
                    records,
                    exponents.get(currency),
                )
            )
    return len(accounts), bad


def _round_tables() -> dict[str, str]:
    from sessions.models import Round  # the rounds build on the ledger, not the other way round

    def table_of(name: str) -> str:
        related = Round._meta.get_field(name).related_model
        assert related is not None and not isinstance(related, str)
        return related._meta.db_table

    return {
        "rounds": Round._meta.db_table,
        "providers": table_of("provider"),
        "players": table_of("player"),
        "journals": JournalTransaction._meta.db_table,
        "entries": Entry._meta.db_table,
        "accounts": Account._meta.db_table,
    }


# The figures as wallet/sql's debit, credit and rollback functions (and the Python path's
# round_* services) keep them: a debit adds one debit and its stake; a credit, one credit and
# its amount, a zero one too; a rollback, one rollback, and takes its debit's stake off
# total_debited. A rollback's journal transaction carries its debit's round. The amounts are
# the player's wallet's side of each transaction. Plain SQL, for SQLite too (`make run`'s
# default); the round's journal is found along journal_round_idx (provider code, round id).
_ROUNDS_COMPARED = """
WITH compared AS (
    SELECT r.id, p.code AS provider_code, r.round_id, pl.player_id, r.currency,
           r.debit_count, r.credit_count, r.rollback_count, r.total_debited, r.total_credited,
           COUNT(DISTINCT CASE WHEN j.kind = 'debit' THEN j.id END) AS debits,
           COUNT(DISTINCT CASE WHEN j.kind = 'credit' THEN j.id END) AS credits,
           COUNT(DISTINCT CASE WHEN j.kind = 'rollback' THEN j.id END) AS rollbacks,
           -COALESCE(SUM(CASE WHEN a.kind = 'player_wallet' AND j.kind <> 'credit' THEN e.amount END), 0) AS debited,
           COALESCE(SUM(CASE WHEN a.kind = 'player_wallet' AND j.kind = 'credit' THEN e.amount END), 0) AS credited
    FROM ({candidates}) c
    JOIN {rounds} r ON r.id = c.id
    JOIN {providers} p ON p.id = r.provider_id
    JOIN {players} pl ON pl.id = r.player_id
    LEFT JOIN {journals} j
        ON j.provider_code = p.code AND j.round_id = r.round_id AND j.kind IN ('debit', 'credit', 'rollback')
    LEFT JOIN {entries} e ON e.transaction_id = j.id
    LEFT JOIN {accounts} a ON a.id = e.account_id
    GROUP BY r.id, p.code, r.round_id, pl.player_id, r.currency,
             r.debit_count, r.credit_count, r.rollback_count, r.total_debited, r.total_credited
)
SELECT n.checked, n.last_id, c.id, c.provider_code, c.round_id, c.player_id, c.currency,
       c.debit_count, c.credit_count, c.rollback_count, c.total_debited, c.total_credited,
       c.debits, c.credits, c.rollbacks, c.debited, c.credited
FROM (SELECT COUNT(*) AS checked, MAX(id) AS last_id FROM compared) n
LEFT JOIN compared c ON c.debit_count <> c.debits OR c.credit_count <> c.credits
    OR c.rollback_count <> c.rollbacks OR c.total_debited <> c.debited OR c.total_credited <> c.credited
ORDER BY c.id
"""

# The older rounds the journal moved since the window's start: its movements found along the
# journal's created_at index, each one's round by the round's key (provider, round id).
_ROUNDS_MOVED_SINCE = """
SELECT DISTINCT r.id FROM {journals} j
JOIN {providers} p ON p.code = j.provider_code
JOIN {rounds} r ON r.provider_id = p.id AND r.round_id = j.round_id
WHERE j.created_at >= %s AND j.kind IN ('debit', 'credit', 'rollback') AND j.round_id <> '' AND r.id <= %s
"""

_ROUNDS_BY_ID = "SELECT id FROM {rounds} WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"


def _rounds_listed(count: int) -> str:
    # A batch of the window's moved rounds, by their ids; plain placeholders, for SQLite too.
    return "SELECT id FROM {rounds} WHERE id IN (" + ", ".join(["%s"] * count) + ")"


def _rounds_compared(
    candidates: str, params: list[Any], exponents: dict[str, int]
) -> tuple[int, int | None, list[RoundDrift]]:
    tables = _round_tables()
    sql = _ROUNDS_COMPARED.format(candidates=candidates.format(**tables), **tables)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    checked, last_id = int(rows[0][0]), rows[0][1]
    drifts = [
        RoundDrift(
            pk,
            provider,
            round_id,
            player,
            currency,
            exponents.get(currency),
            tuple(int(figure) for figure in figures[: len(ROUND_FIGURES)]),
            tuple(int(figure) for figure in figures[len(ROUND_FIGURES) :]),
        )
        for _, _, pk, provider, round_id, player, currency, *figures in rows
        if pk is not None
    ]
    return checked, last_id, drifts


def _round_drifts(
    *, window: RoundsWindow | None, through: int, exponents: dict[str, int], say: Progress
) -> tuple[int, list[RoundDrift]]:
    """The rounds up to id `through`: those of `window`, or every one."""
    checked, after = 0, 0
    drifts: list[RoundDrift] = []
    started = last_said = time.monotonic()

    def compared(count: int, found: list[RoundDrift]) -> None:
        nonlocal checked, last_said
        checked += count
        drifts.extend(found)
        if time.monotonic() - last_said >= PROGRESS_EVERY_SECONDS:
            last_said = time.monotonic()
            say(f"rounds: {checked} compared, {len(drifts)} drifted ({last_said - started:.1f} s)")

    if window is not None:
        after = min(window.after_round, through)
        # The moved rounds are listed once and compared ROUND_BATCH at a time, as the newer
        # ones are: compared in one statement, an hour's moved rounds of a busy casino had
        # PostgreSQL hash-join the whole journal, entries and rounds and aggregate them on
        # disk (268,717 rounds: 230 s, where 500 at a time read each by index).
        for batch in _rounds_moved_since(since=window.since, through=after):
            count, _, found = _rounds_compared(_rounds_listed(len(batch)), batch, exponents)
            compared(count, found)
    while after < through:
        count, last_id, found = _rounds_compared(_ROUNDS_BY_ID, [after, through, ROUND_BATCH], exponents)
        if not count or last_id is None:
            break
        after = int(last_id)
        compared(count, found)
    return checked, drifts


def _rounds_moved_since(*, since: datetime, through: int) -> Iterator[list[int]]:
    """The ids of the rounds up to id `through` that the journal moved since `since`, in order,
    ROUND_BATCH at a time. From a server-side cursor on PostgreSQL: a window that a drift left
    unfixed keeps open for days holds millions of rounds, which the database keeps, not the
    worker (a worker killed for its memory would be given the run again, and die again)."""
    sql = _ROUNDS_MOVED_SINCE.format(**_round_tables()) + " ORDER BY r.id"
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(since), through])
        while rows := cursor.fetchmany(ROUND_BATCH):
            yield [int(pk) for (pk,) in rows]


@contextmanager
def _check(say: Progress, name: str) -> Iterator[None]:
    say(f"checking: {name} ...")
    started = time.monotonic()
    yield
    say(f"checked: {name} ({time.monotonic() - started:.1f} s)")


def ledger_reconcile(*, progress: Progress | None = None, rounds: RoundsWindow | None = None) -> ReconciliationReport:
    """Run every check; read-only, safe at any time. Compares every round unless given a
    `rounds` window. `progress(line)` is told as each check starts and ends, and how far
    the rounds are (each other check reads the whole journal: minutes on a large one)."""
    from sessions.models import Round

    say: Progress = progress or (lambda line: None)
    exponents = dict(Currency.objects.values_list("code", "exponent"))
    report = ReconciliationReport(rounds_window=rounds)
    # Read first: rounds opened while this runs are the next run's.
    report.rounds_through = Round.objects.aggregate(newest=Max("pk"))["newest"] or 0
    with _check(say, "every journal transaction balances"):
        report.unbalanced = list(_unbalanced_journals(exponents))
    for source in _CACHED_BALANCES:
        with _check(say, f"{source.model._meta.db_table} balances equal their ledger accounts"):
            checked, bad = _balance_mismatches(source, exponents)
            report.accounts_checked += checked
            report.mismatches.extend(bad)
    for held_total in _HELD_TOTALS:
        with _check(say, f"{held_total.account_kind} accounts hold their {held_total.model._meta.db_table} rows"):
            accounts, held_bad = _held_mismatches(held_total, exponents)
            report.accounts_checked += accounts
            report.mismatches.extend(held_bad)
    which = "every round" if rounds is None else f"rounds opened or moved since {rounds.since:%Y-%m-%d %H:%M:%S %Z}"
    with _check(say, f"{Round._meta.db_table} counts and totals equal their journal ({which})"):
        report.rounds_checked, drifts = _round_drifts(
            window=rounds, through=report.rounds_through, exponents=exponents, say=say
        )
        report.mismatches.extend(drifts)
    return report


# The first run compares the rounds the journal moved in the day before it: the whole history
# at once could outlast the task's time limit on a large book, and a run that dies records
# nothing, so every run after it would try the whole history again. `--all-rounds` does that,
# by hand.
FIRST_RUN_LOOKBACK = timedelta(days=1)
_NO_ROUND_ABOVE = 2**63 - 1


def reconcile_rounds_window() -> RoundsWindow:
    """The rounds the next run must compare: those opened or moved since the last run that
    found no round drifted began (less the time a movement may take to commit after its
    stamp), so that a round found wrong is compared again at every run until it is put right,
    while a problem elsewhere (a wallet's) does not widen the window run after run. Before any
    such run, those the journal moved in the day before the first run."""
    runs = ReconcileRun.objects.order_by("-finished_at")
    last = runs.filter(rounds_drifted=0).values("started_at", "rounds_through").first()
    if last is not None:
        return RoundsWindow(since=last["started_at"] - SETTLING_MARGIN, after_round=last["rounds_through"])
    first = ReconcileRun.objects.order_by("finished_at").values_list("started_at", flat=True).first()
    return RoundsWindow(since=(first or clock.now()) - FIRST_RUN_LOOKBACK, after_round=_NO_ROUND_ABOVE)


def reconcile_run_record(*, all_rounds: bool = False, progress: Progress | None = None) -> ReconciliationReport:
    """Prove the books (`ledger_reconcile`) and record the run: when it finished, how long it
    took, how many problems it found. The rounds are those of `reconcile_rounds_window`
    unless `all_rounds`. Holds no transaction while it reads; the run's row is written at
    the end, so a run that dies records nothing."""
    window = None if all_rounds else reconcile_rounds_window()
    started_at, started = clock.now(), time.monotonic()
    report = ledger_reconcile(progress=progress, rounds=window)
    ReconcileRun.objects.create(
        started_at=started_at,
        finished_at=clock.now(),
        duration_seconds=time.monotonic() - started,
        problems=report.problem_count,
        accounts_checked=report.accounts_checked,
        rounds_checked=report.rounds_checked,
        rounds_drifted=sum(isinstance(problem, RoundDrift) for problem in report.mismatches),
        all_rounds=window is None,
        rounds_through=report.rounds_through,
    )
    return report


@dataclass(frozen=True)
class ReconcileRunsSummary:
    last_finished_at: datetime
    last_duration_seconds: float
    last_problems: int
    last_clean_finished_at: datetime | None


def reconcile_runs_summary() -> ReconcileRunsSummary | None:
    """The last run and when the last clean one finished (/metrics), along their indexes;
    None before the first run."""
    last = ReconcileRun.objects.order_by("-finished_at").first()
    if last is None:
        return None
    clean: datetime | None = last.finished_at
    if last.problems:
        clean = (
            ReconcileRun.objects.filter(problems=0)
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
    return ReconcileRunsSummary(last.finished_at, last.duration_seconds, last.problems, clean)
