"""Reconciliation: money on a wallet account with no wallet, game rounds against their journal,
the runs recorded and what /metrics says of them."""

from datetime import timedelta

import pytest
from django.db import connection

from casino_platform import clock
from casino_platform.tests.test_metrics import scrape, value
from ledger.models import ReconcileRun
from ledger.reconciliation import (
    ROUND_FIGURES,
    RoundDrift,
    UnownedAccount,
    ledger_reconcile,
    reconcile_run_record,
)
from provider.tests.factories import GameFactory, ProviderFactory
from sessions.models import Round
from wallet.services import wallet_credit, wallet_debit, wallet_rollback
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def delete_wallet_row(wallet) -> None:
    """As the tables' owner may, around the trigger that refuses it."""
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred check of the test's writes
    raw("ALTER TABLE wallet_wallet DISABLE TRIGGER wallet_wallet_no_delete")
    raw("DELETE FROM wallet_wallet WHERE id = %s", [wallet.pk])


@pytest.fixture
def provider():
    provider = ProviderFactory()
    GameFactory(provider=provider)
    return provider


@pytest.fixture(params=["in_database", "python"])
def path(request, settings):
    """The wallet's database functions and its Python path keep a round's figures alike."""
    in_database = request.param == "in_database"
    settings.WALLET_DEBIT_IN_DATABASE = in_database
    settings.WALLET_CREDIT_IN_DATABASE = in_database
    settings.WALLET_ROLLBACK_IN_DATABASE = in_database
    return request.param


@pytest.fixture
def at(monkeypatch):
    """Move the platform's clock, which stamps the journal, the rounds and the runs."""

    def move(when):
        monkeypatch.setattr(clock, "now", lambda: when)

    return move


def round_figures(round_id: str) -> tuple[int, ...]:
    return tuple(Round.objects.values_list(*ROUND_FIGURES).get(round_id=round_id))


# --- Money on a wallet's account that no wallet row shows -----------------------------------


def test_money_on_a_wallet_account_whose_wallet_row_is_gone_is_found():
    """The balance check started from the wallet rows: an account with money and no row was
    compared with nothing. The database now refuses the DELETE, but not to its owner."""
    wallet = funded_wallet(amount=1_000)
    assert ledger_reconcile().ok
    delete_wallet_row(wallet)

    report = ledger_reconcile()
    assert [(type(p), p.account_id, p.ledger) for p in report.mismatches] == [
        (UnownedAccount, wallet.account_id, 1_000)
    ]
    key = f"wallet:{wallet.player.player_id}:EUR"
    assert report.mismatches[0].describe() == (
        f"account {wallet.account_id} {key} (player_wallet) holds 10.00 EUR (1000) and no wallet_wallet row has it"
    )


def test_an_emptied_wallet_account_without_its_row_is_no_problem():
    """Nothing is owed on it."""
    from wallet.services import wallet_withdraw

    wallet = funded_wallet(amount=1_000)
    wallet_withdraw(player_id=wallet.player.player_id, currency="EUR", amount=1_000, created_by="t", reason="payout")
    delete_wallet_row(wallet)
    assert ledger_reconcile().ok


def test_a_wallet_that_drifted_is_named_by_its_player_and_currency_in_its_units():
    wallet = funded_wallet(amount=1_000)
    raw("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    (problem,) = ledger_reconcile().mismatches
    assert problem.describe() == (
        f"wallet_wallet {wallet.pk} (player {wallet.player.player_id}, EUR): cached balance 10.01 EUR (1001)"
        f" != ledger 10.00 EUR (1000) (account {wallet.account_id})"
    )


def test_wallets_found_wrong_are_named_a_batch_at_a_time(monkeypatch):
    """PostgreSQL binds at most 65,535 parameters to a statement: naming 70,000 wrong wallets in
    one stopped the run with a traceback, recording nothing (a helper's review, on a copy)."""
    wallets = [funded_wallet(amount=1_000) for _ in range(5)]
    raw("UPDATE wallet_wallet SET balance = balance + 1")
    monkeypatch.setattr("ledger.reconciliation.OWNERS_BATCH", 2)
    report = ledger_reconcile()
    assert sorted(problem.owner for problem in report.mismatches) == sorted(
        f"player {wallet.player.player_id}" for wallet in wallets
    )


# --- Game rounds against their journal -----------------------------------------------------


def play_every_kind_of_round(provider, wallet) -> None:
    """Debits, rollbacks, credits after a rollback, a zero credit, a refund on a round whose
    bets were all rolled back, a credit that opens a round, a repeated rollback and one of a
    debit never seen."""
    d, c, rb = debit_request, credit_request, rollback_request
    wallet_debit(provider=provider, request=d(wallet, amount=300, round_id="mixed", tx="m-d1"))
    wallet_debit(provider=provider, request=d(wallet, amount=200, round_id="mixed", tx="m-d2"))
    wallet_rollback(provider=provider, request=rb(wallet, reference="m-d2", round_id="mixed", tx="m-rb2"))
    wallet_rollback(provider=provider, request=rb(wallet, reference="m-d2", round_id="mixed", tx="m-rb2-again"))
    wallet_credit(provider=provider, request=c(wallet, amount=450, round_id="mixed", tx="m-c1"))
    wallet_credit(provider=provider, request=c(wallet, amount=0, round_id="mixed", tx="m-c2"))

    wallet_debit(provider=provider, request=d(wallet, amount=100, round_id="voided", tx="v-d1"))
    wallet_rollback(provider=provider, request=rb(wallet, reference="v-d1", round_id="voided", tx="v-rb1"))
    wallet_credit(provider=provider, request=c(wallet, amount=100, round_id="voided", tx="v-c1", reason="refund"))

    wallet_credit(provider=provider, request=c(wallet, amount=70, round_id="prize", tx="p-c1", reason="refund"))
    wallet_rollback(provider=provider, request=rb(wallet, reference="never-seen", round_id="prize", tx="p-rb0"))


def test_every_kind_of_round_reconciles_on_both_paths(provider, path):
    wallet = funded_wallet(amount=10_000)
    play_every_kind_of_round(provider, wallet)
    # (debits, credits, rollbacks, staked less rolled back, paid)
    assert round_figures("mixed") == (2, 2, 1, 300, 450)
    assert round_figures("voided") == (1, 1, 1, 0, 100)
    assert round_figures("prize") == (0, 1, 0, 0, 70)

    report = ledger_reconcile()
    assert report.ok, [p.describe() for p in report.problems()]
    assert report.rounds_checked == 3


@pytest.mark.parametrize("figure", ROUND_FIGURES)
def test_a_round_figure_that_drifted_from_its_journal_is_found(provider, figure):
    wallet = funded_wallet(amount=10_000)
    play_every_kind_of_round(provider, wallet)
    raw(f"UPDATE game_sessions_round SET {figure} = {figure} + 1 WHERE round_id = 'mixed'")

    (drift,) = ledger_reconcile().mismatches
    assert isinstance(drift, RoundDrift) and drift.round_id == "mixed"
    cached = dict(zip(ROUND_FIGURES, drift.cached, strict=True))
    booked = dict(zip(ROUND_FIGURES, drift.journal, strict=True))
    assert cached[figure] == booked[figure] + 1
    assert {name for name in ROUND_FIGURES if cached[name] != booked[name]} == {figure}


def test_a_drifted_round_is_named_with_its_player_and_its_amounts_in_units(provider):
    """From the review: a round that says 13.00 staked and its bet rolled back."""
    wallet = funded_wallet(amount=10_000)
    wallet_debit(provider=provider, request=debit_request(wallet, amount=300, round_id="zz-r1", tx="zz-d1"))
    assert ledger_reconcile().ok
    raw(
        "UPDATE game_sessions_round SET total_debited = total_debited + 1000, rollback_count = rollback_count + 1"
        " WHERE round_id = 'zz-r1'"
    )
    (drift,) = ledger_reconcile().mismatches
    pk = Round.objects.get(round_id="zz-r1").pk
    assert drift.describe() == (
        f"round sandbox:zz-r1 (id {pk}; player {wallet.player.player_id}, EUR): rollback_count 1 != journal 0;"
        " total_debited 13.00 EUR (1300) != journal 3.00 EUR (300)"
    )


def test_a_round_with_figures_and_no_journal_is_found(provider):
    """Written around the wallet: counts with no movement behind them."""
    wallet = funded_wallet(amount=10_000)
    Round.objects.create(
        provider=provider, round_id="ghost", player=wallet.player, currency_id="EUR", game_id="sandbox:dice",
        debit_count=1, total_debited=100,
    )  # fmt: skip
    (drift,) = ledger_reconcile().mismatches
    assert drift.round_id == "ghost" and drift.journal == (0, 0, 0, 0, 0)


def test_every_round_is_compared_a_batch_at_a_time_saying_how_far(provider, monkeypatch):
    wallet = funded_wallet(amount=10_000)
    for n in range(5):
        wallet_debit(provider=provider, request=debit_request(wallet, amount=10, round_id=f"b{n}"))
    raw("UPDATE game_sessions_round SET debit_count = 9 WHERE round_id IN ('b0', 'b4')")
    monkeypatch.setattr("ledger.reconciliation.ROUND_BATCH", 2)
    monkeypatch.setattr("ledger.reconciliation.PROGRESS_EVERY_SECONDS", 0)
    said: list[str] = []

    report = ledger_reconcile(progress=said.append)
    assert report.rounds_checked == 5
    assert [p.round_id for p in report.mismatches] == ["b0", "b4"]
    assert [line.split(" (")[0] for line in said if line.startswith("rounds:")] == [
        "rounds: 2 compared, 1 drifted",
        "rounds: 4 compared, 1 drifted",
        "rounds: 5 compared, 2 drifted",
    ]


@pytest.mark.parametrize("candidates", ["by_id", "listed"])
def test_the_rounds_and_their_journal_are_read_by_index(provider, candidates):
    """A round's movements are found along journal_round_idx (provider code, round id), for
    the newer rounds by id and for a batch of the window's moved rounds by their ids alike:
    neither reads the journal, its entries or the rounds whole."""
    from casino_platform.tests.plans import reads_whole
    from ledger import reconciliation

    wallet = funded_wallet(amount=10_000)
    play_every_kind_of_round(provider, wallet)
    tables = reconciliation._round_tables()
    ids = list(Round.objects.values_list("pk", flat=True))
    listed = reconciliation._ROUNDS_BY_ID if candidates == "by_id" else reconciliation._rounds_listed(len(ids))
    sql = reconciliation._ROUNDS_COMPARED.format(candidates=listed.format(**tables), **tables)
    params = [0, 10**9, 100] if candidates == "by_id" else ids
    raw("SET LOCAL enable_seqscan = off")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "journal_round_idx" in plan, plan
    for table in ("ledger_journaltransaction", "ledger_entry", "game_sessions_round"):
        assert not reads_whole(plan, table), plan


def test_the_rounds_moved_since_are_found_along_the_journal_s_time(provider):
    from casino_platform.tests.plans import reads_whole
    from ledger import reconciliation

    wallet = funded_wallet(amount=10_000)
    play_every_kind_of_round(provider, wallet)
    sql = reconciliation._ROUNDS_MOVED_SINCE.format(**reconciliation._round_tables())
    raw("SET LOCAL enable_seqscan = off")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", [clock.now(), 10**9])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert not reads_whole(plan, "ledger_journaltransaction"), plan


def test_the_window_s_moved_rounds_are_compared_a_batch_at_a_time(provider, at, monkeypatch):
    """An hour's moved rounds of a busy casino in one statement had PostgreSQL hash-join the
    whole journal and aggregate on disk (268,717 rounds on the bench's database: 230 s); a
    batch at a time, each round is read by index."""
    wallet = funded_wallet(amount=10_000)
    start = clock.now()
    for n in range(5):
        wallet_debit(provider=provider, request=debit_request(wallet, amount=10, round_id=f"w{n}"))
    at(start + timedelta(hours=1))
    assert reconcile_run_record().ok
    at(start + timedelta(hours=2))
    for n in range(5):
        wallet_credit(provider=provider, request=credit_request(wallet, amount=5, round_id=f"w{n}"))
    raw("UPDATE game_sessions_round SET credit_count = 9 WHERE round_id IN ('w1', 'w4')")
    monkeypatch.setattr("ledger.reconciliation.ROUND_BATCH", 2)
    statements: list[str] = []

    def counted(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        report = reconcile_run_record()
    assert report.rounds_window is not None and report.rounds_checked == 5
    assert sorted(p.round_id for p in report.mismatches) == ["w1", "w4"]
    assert sum("WITH compared AS" in sql for sql in statements) == 3  # 2 + 2 + 1


# --- The runs: which rounds each compares, and what is recorded ------------------------------


def test_a_run_compares_the_rounds_opened_or_moved_since_the_last_clean_run(provider, at):
    wallet = funded_wallet(amount=10_000)
    start = clock.now()
    for round_id in ("old", "moved"):
        wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id=round_id))

    at(start + timedelta(hours=1))
    first = reconcile_run_record()
    # The first run: the rounds the journal moved in the day before it.
    assert first.ok and first.rounds_window is not None and first.rounds_checked == 2

    at(start + timedelta(hours=2))
    wallet_credit(provider=provider, request=credit_request(wallet, amount=50, round_id="moved"))
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="new"))
    raw("UPDATE game_sessions_round SET credit_count = credit_count + 5 WHERE round_id IN ('old', 'moved', 'new')")
    second = reconcile_run_record()
    # "old", unmoved since the first run, is left to --all-rounds: each run stays an hour's work.
    assert second.rounds_window is not None and second.rounds_checked == 2
    assert sorted(p.round_id for p in second.mismatches if isinstance(p, RoundDrift)) == ["moved", "new"]

    # Still compared an hour later, though nothing moved them again: the window starts at the
    # last run that found no round drifted, so a problem is found until it is put right.
    at(start + timedelta(hours=3))
    assert sorted(p.round_id for p in reconcile_run_record().mismatches) == ["moved", "new"]
    every = reconcile_run_record(all_rounds=True)
    assert every.rounds_window is None and every.rounds_checked == 3
    assert sorted(p.round_id for p in every.mismatches) == ["moved", "new", "old"]


def test_a_problem_outside_the_rounds_does_not_widen_the_next_runs_window(provider, at):
    """A wallet that stays wrong made every run compare the rounds since the last clean one,
    more each hour, until a run outlasted its time limit and recorded nothing."""
    wallet = funded_wallet(amount=10_000)
    start = clock.now()
    at(start + timedelta(hours=1))
    reconcile_run_record()
    raw("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    at(start + timedelta(hours=1, minutes=30))
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="between"))
    at(start + timedelta(hours=2))
    second = reconcile_run_record()
    assert second.problem_count == 1 and second.rounds_checked == 1
    at(start + timedelta(hours=3))
    third = reconcile_run_record()
    assert third.problem_count == 1 and third.rounds_checked == 0  # "between" was compared by the second


def test_the_first_run_compares_the_day_before_it_and_all_rounds_every_one(provider, at):
    """The whole history at once could outlast the task's time limit, and a run that dies
    records nothing: every run after it would try the whole history again."""
    wallet = funded_wallet(amount=10_000)
    start = clock.now()
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="ancient"))
    raw("UPDATE game_sessions_round SET debit_count = 7 WHERE round_id = 'ancient'")
    at(start + timedelta(days=2))
    first = reconcile_run_record()
    assert first.ok and first.rounds_checked == 0
    every = reconcile_run_record(all_rounds=True)
    assert [p.round_id for p in every.mismatches] == ["ancient"]


def test_a_run_reads_the_journal_again_from_a_margin_before_the_last_clean_run(provider, at):
    """A movement is stamped before it waits for its wallet's lock: one stamped just before
    the last run began can commit after that run read the journal."""
    wallet = funded_wallet(amount=10_000)
    start = clock.now()
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="late"))
    at(start + timedelta(hours=1))
    reconcile_run_record()

    at(start + timedelta(hours=1) - timedelta(minutes=1))  # stamped a minute before it, committed after
    wallet_credit(provider=provider, request=credit_request(wallet, amount=50, round_id="late"))
    raw("UPDATE game_sessions_round SET total_credited = 0 WHERE round_id = 'late'")
    at(start + timedelta(hours=2))
    assert [p.round_id for p in reconcile_run_record().mismatches] == ["late"]


def test_each_run_is_recorded(provider, at):
    wallet = funded_wallet(amount=10_000)
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="r1"))
    started = clock.now()
    at(started)
    reconcile_run_record()
    raw("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    reconcile_run_record(all_rounds=True)

    clean, failed = ReconcileRun.objects.order_by("id")
    assert (clean.started_at, clean.finished_at, clean.problems) == (started, started, 0)
    assert (clean.accounts_checked, clean.rounds_checked, clean.all_rounds) == (1, 1, False)
    assert clean.rounds_through == Round.objects.get().pk and clean.duration_seconds > 0
    assert failed.problems == 1 and failed.all_rounds


def test_the_hourly_task_records_its_run(provider):
    from ledger.tasks import ledger_reconcile_task

    wallet = funded_wallet(amount=10_000)
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="r1"))
    assert ledger_reconcile_task() == {"accounts_checked": 1, "rounds_checked": 1, "unbalanced": 0, "mismatches": 0}
    assert ReconcileRun.objects.get().problems == 0


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_say_when_the_books_were_last_proved_and_what_the_last_run_found(client, at):
    wallet = funded_wallet(amount=1_000)
    before = scrape(client)
    # Before the first clean run the books were never proved: 0, so a staleness alert fires.
    assert value(before, "ledger_reconcile_last_success_timestamp_seconds") == 0.0
    assert ("ledger_reconcile_problems", frozenset()) not in before

    proved = clock.now()
    at(proved)
    reconcile_run_record()
    samples = scrape(client)
    assert value(samples, "ledger_reconcile_last_success_timestamp_seconds") == proved.timestamp()
    assert value(samples, "ledger_reconcile_last_run_timestamp_seconds") == proved.timestamp()
    assert ("ledger_reconcile_last_duration_seconds", frozenset()) in samples
    assert ("ledger_reconcile_problems", frozenset()) in samples
    assert value(samples, "ledger_reconcile_problems") == 0

    raw("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    at(proved + timedelta(hours=1))
    reconcile_run_record()
    samples = scrape(client)
    assert value(samples, "ledger_reconcile_problems") == 1
    assert value(samples, "ledger_reconcile_last_run_timestamp_seconds") == (proved + timedelta(hours=1)).timestamp()
    assert value(samples, "ledger_reconcile_last_success_timestamp_seconds") == proved.timestamp()
