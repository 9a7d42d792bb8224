"""Anti-money-laundering monitoring: large wins and deposits over a figure in 24 hours are listed
for staff after the fact by a sweep that reads the journal, once per movement and rule, and
staff clear or report each once."""

import csv
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import requests
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from casino_platform import clock
from casino_platform.db import exclusive_turn
from casino_platform.errors import ValidationFailed
from ledger.models import Currency
from ledger.reconciliation import ledger_reconcile
from provider.tests.conftest import wait_for, worker  # noqa: F401 - worker: a real Celery worker and beat
from provider.tests.factories import GameFactory, ProviderFactory
from sessions.models import Round
from wallet.errors import AlertAlreadyDecided
from wallet.models import MonitoringAlert, MonitoringCursor, Wallet
from wallet.selectors import monitoring_scanned_until
from wallet.services import (
    monitoring,
    staff_money_move,
    wallet_credit,
    wallet_debit,
    wallet_deposit,
    wallet_rollback,
    wallet_withdraw,
)
from wallet.services.monitoring import (
    monitoring_alert_decide,
    monitoring_backfill,
    monitoring_reread_yesterday,
    monitoring_sweep,
)
from wallet.tests.api_client import ProviderClient, debit_payload, launch
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet
from wallet.tests.test_admin import messages_of

WIN_ABOVE = 50_000
DEPOSITS_ABOVE = 100_000
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(moment: datetime):
    return mock.patch("casino_platform.clock.now", return_value=moment)


def thresholds(**values):
    Currency.objects.filter(code="EUR").update(**values)


def win(wallet: Wallet, provider, amount: int, *, round_id: str) -> int:
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id=round_id))
    result = wallet_credit(provider=provider, request=credit_request(wallet, amount=amount, round_id=round_id))
    return int(result.platform_transaction_id)


def deposit(wallet: Wallet, amount: int, *, when: datetime | None = None) -> int:
    with at(when or clock.now()):
        result = wallet_deposit(
            player_id=wallet.player.player_id, currency="EUR", amount=amount, created_by="operator:psp", reason="card"
        )
    return int(result.platform_transaction_id)


def withdraw(wallet: Wallet, amount: int, when: datetime) -> int:
    with at(when):
        result = wallet_withdraw(
            player_id=wallet.player.player_id, currency="EUR", amount=amount, created_by="operator:psp", reason="out"
        )
    return int(result.platform_transaction_id)


def sweep_at(moment: datetime):
    with at(moment):
        return monitoring_sweep()


def alerts(rule: str | None = None) -> list[MonitoringAlert]:
    queryset = MonitoringAlert.objects.order_by("id")
    return list(queryset.filter(rule=rule) if rule else queryset)


@pytest.fixture
def player_wallet(db, game):
    # funded_wallet's own deposit is a deposit too: keep it out of the 24 hours under test.
    with at(T0 - timedelta(days=30)):
        return funded_wallet(amount=10_000)


@pytest.mark.django_db
class TestLargeWins:
    def test_a_win_over_the_figure_raises_one_alert_and_one_at_it_none(self, player_wallet, provider):
        thresholds(large_win_above=WIN_ABOVE)
        big = win(player_wallet, provider, WIN_ABOVE + 1, round_id="r-big")
        win(player_wallet, provider, WIN_ABOVE, round_id="r-at")
        result = monitoring_sweep()
        assert result.raised == {"large_win": 1, "deposits_24h": 0, "low_play_withdrawal": 0}
        (alert,) = alerts()
        assert (alert.rule, alert.journal_id, alert.wallet_id) == ("large_win", big, player_wallet.pk)
        # The round's wins up to it: this win alone.
        assert (alert.amount, alert.total, alert.threshold, alert.status) == (
            WIN_ABOVE + 1,
            WIN_ABOVE + 1,
            WIN_ABOVE,
            "pending",
        )
        assert alert.occurred_at == alert.journal.created_at
        # Read again (the next sweep's settle time covers it): raised once.
        assert monitoring_sweep().total == 0 and len(alerts()) == 1

    def test_the_win_that_takes_its_round_s_wins_over_the_figure_raises_and_later_ones_do_not(
        self, player_wallet, provider
    ):
        thresholds(large_win_above=WIN_ABOVE)
        wallet_debit(provider=provider, request=debit_request(player_wallet, amount=100, round_id="r-spins"))
        spin = WIN_ABOVE * 2 // 5

        def pay(amount: int, *, round_id: str = "r-spins") -> int:
            request = credit_request(player_wallet, amount=amount, round_id=round_id, round_closed=False)
            return int(wallet_credit(provider=provider, request=request).platform_transaction_id)

        pay(spin)
        pay(spin)
        # Another round's win here would cross the figure if it were added to these.
        wallet_debit(provider=provider, request=debit_request(player_wallet, amount=100, round_id="r-other"))
        pay(spin, round_id="r-other")
        crossing = pay(spin)  # three of 2/5 of the figure: over it
        pay(spin)
        pay(0)
        jackpot = pay(WIN_ABOVE + 1)  # over it on its own: raises although the round already crossed
        assert monitoring_sweep().raised["large_win"] == 2
        assert [(a.journal_id, a.amount, a.total, a.threshold) for a in alerts()] == [
            (crossing, spin, 3 * spin, WIN_ABOVE),
            (jackpot, WIN_ABOVE + 1, 4 * spin + WIN_ABOVE + 1, WIN_ABOVE),
        ]
        assert monitoring_sweep().total == 0

    def test_a_round_is_the_provider_s(self, player_wallet, provider):
        thresholds(large_win_above=WIN_ABOVE)
        other_provider = ProviderFactory(code="other")
        other_game = GameFactory(provider=other_provider)
        half = WIN_ABOVE // 2 + 1
        for owner, game_id in ((provider, "sandbox:dice"), (other_provider, other_game.game_id)):
            wallet_debit(provider=owner, request=debit_request(player_wallet, round_id="r-same", game_id=game_id))
            wallet_credit(
                provider=owner,
                request=credit_request(player_wallet, amount=half, round_id="r-same", game_id=game_id),
            )
        # Together over the figure, but two providers' rounds of the same id.
        assert monitoring_sweep().raised["large_win"] == 0

    def test_the_review_page_shows_the_round_and_the_export_its_wins(self, admin_client, player_wallet, provider):
        thresholds(large_win_above=WIN_ABOVE)
        wallet_debit(provider=provider, request=debit_request(player_wallet, amount=250, round_id="r-tour"))
        for amount in (30_000, 30_000):
            wallet_credit(
                provider=provider,
                request=credit_request(player_wallet, amount=amount, round_id="r-tour", reason="prize"),
            )
        monitoring_sweep()
        (alert,) = alerts()
        page = admin_client.get(reverse("admin:wallet_monitoringalert_review", args=[alert.pk]))
        content = page.content.decode()
        assert page.status_code == 200
        round_url = reverse("admin:game_sessions_round_change", args=[Round.objects.get(round_id="r-tour").pk])
        assert (
            f'It took the wins\n   of <a href="{round_url}">round r-tour</a> to <strong>600.00 EUR</strong>, '
            "over 500.00 EUR." in content
        )
        listing = admin_client.get(reverse("admin:wallet_monitoringalert_changelist")).content.decode()
        assert "Round&#x27;s wins or deposits" in listing and "600.00 EUR" in listing
        response = admin_client.post(
            reverse("admin:wallet_monitoringalert_changelist"),
            {"action": "export_csv", ACTION_CHECKBOX_NAME: [alert.pk]},
        )
        (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
        assert (row["amount"], row["round_won"], row["deposited"], row["figure_amount"]) == (
            "300.00",
            "600.00",
            "",
            "500.00",
        )

    def test_no_figure_set_raises_nothing_and_an_alert_moves_no_money(self, player_wallet, provider):
        win(player_wallet, provider, 10_000_000, round_id="r-huge")
        assert monitoring_sweep().total == 0
        thresholds(large_win_above=WIN_ABOVE)
        balance = Wallet.objects.get(pk=player_wallet.pk).balance
        assert monitoring_sweep().raised["large_win"] == 1  # the figure applies to what is read after it is set
        assert Wallet.objects.get(pk=player_wallet.pk).balance == balance
        assert ledger_reconcile().ok


@pytest.mark.django_db
class TestDepositsIn24Hours:
    def test_the_deposit_that_crosses_the_figure_raises_and_later_ones_do_not(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        deposit(player_wallet, 60_000, when=T0)
        crossing = deposit(player_wallet, 50_000, when=T0 + timedelta(hours=23))
        deposit(player_wallet, 10_000, when=T0 + timedelta(hours=23, minutes=30))
        assert sweep_at(T0 + timedelta(hours=24)).raised == {
            "large_win": 0,
            "deposits_24h": 1,
            "low_play_withdrawal": 0,
        }
        (alert,) = alerts()
        assert (alert.journal_id, alert.amount, alert.total, alert.threshold) == (
            crossing,
            50_000,
            110_000,
            DEPOSITS_ABOVE,
        )

    def test_crossing_again_once_older_deposits_leave_the_24_hours(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        deposit(player_wallet, 60_000, when=T0)
        first = deposit(player_wallet, 50_000, when=T0 + timedelta(hours=23))
        deposit(player_wallet, 20_000, when=T0 + timedelta(hours=25))  # 50,000 + 20,000 in its 24 hours
        second = deposit(player_wallet, 40_000, when=T0 + timedelta(hours=26))  # 110,000 again
        sweep_at(T0 + timedelta(hours=27))
        assert [(a.journal_id, a.total) for a in alerts()] == [(first, 110_000), (second, 110_000)]

    def test_exactly_the_figure_is_not_over_it_and_other_players_do_not_add_up(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        other = funded_wallet(amount=0)
        deposit(player_wallet, 60_000, when=T0)
        deposit(player_wallet, 40_000, when=T0 + timedelta(hours=1))
        deposit(other, 60_000, when=T0 + timedelta(hours=2))
        sweep_at(T0 + timedelta(hours=3))
        assert alerts() == []

    def test_staff_s_deposits_count_and_withdrawals_do_not_make_room(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        deposit(player_wallet, 60_000, when=T0)
        with at(T0 + timedelta(hours=1)):
            wallet_withdraw(
                player_id=player_wallet.player.player_id, currency="EUR", amount=60_000, created_by="t", reason="out"
            )
            outcome = staff_money_move(
                wallet=Wallet.objects.select_related("player", "currency").get(pk=player_wallet.pk),
                kind="deposit",
                amount=50_000,
                staff="staff:alice",
                reason="bank transfer",
            )
        sweep_at(T0 + timedelta(hours=2))
        (alert,) = alerts()
        assert (alert.journal_id, alert.total) == (int(outcome.result.platform_transaction_id), 110_000)

    def test_two_deposits_stamped_at_the_same_instant_raise_once(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        deposit(player_wallet, 60_000, when=T0)
        second = deposit(player_wallet, 60_000, when=T0)
        sweep_at(T0 + timedelta(minutes=1))
        assert [(a.journal_id, a.total) for a in alerts()] == [(second, 120_000)]


@pytest.mark.django_db
class TestWithdrawalsWithLittlePlay:
    def test_money_in_and_out_with_little_play_raises_and_enough_play_does_not(self, player_wallet, provider):
        thresholds(low_play_withdrawal_percent=50)
        deposit(player_wallet, 40_000, when=T0)
        with at(T0 + timedelta(hours=1)):
            wallet_debit(provider=provider, request=debit_request(player_wallet, amount=19_999, round_id="r-1"))
        little = withdraw(player_wallet, 20_000, T0 + timedelta(hours=2))
        with at(T0 + timedelta(hours=3)):
            wallet_debit(provider=provider, request=debit_request(player_wallet, amount=1, round_id="r-2"))
        withdraw(player_wallet, 1_000, T0 + timedelta(hours=4))  # 20,000 of 40,000 wagered: half, not under
        assert sweep_at(T0 + timedelta(hours=5)).raised["low_play_withdrawal"] == 1
        (alert,) = alerts()
        assert (alert.journal_id, alert.amount, alert.total, alert.wagered, alert.threshold) == (
            little,
            20_000,
            40_000,
            19_999,
            50,
        )

    def test_bets_rolled_back_are_not_play_and_deposits_over_30_days_ago_do_not_count(self, player_wallet, provider):
        thresholds(low_play_withdrawal_percent=10)
        deposit(player_wallet, 50_000, when=T0 - timedelta(days=31))
        deposit(player_wallet, 10_000, when=T0)
        with at(T0 + timedelta(hours=1)):
            bet = debit_request(player_wallet, amount=5_000, round_id="r-rb")
            wallet_debit(provider=provider, request=bet)
            wallet_rollback(
                provider=provider,
                request=rollback_request(player_wallet, reference=bet.transaction_id, round_id="r-rb"),
            )
        out = withdraw(player_wallet, 5_000, T0 + timedelta(hours=2))
        sweep_at(T0 + timedelta(hours=3))
        (alert,) = alerts()
        assert (alert.journal_id, alert.total, alert.wagered) == (out, 10_000, 0)

    def test_winnings_withdrawn_without_deposits_raise_nothing(self, player_wallet, provider):
        thresholds(low_play_withdrawal_percent=100)
        win(player_wallet, provider, 30_000, round_id="r-w")
        withdraw(player_wallet, 30_000, clock.now())
        assert monitoring_sweep().total == 0


@pytest.mark.django_db
class TestSweep:
    def test_the_first_sweep_reads_the_last_day_and_the_command_reads_older_days(self, player_wallet, provider):
        thresholds(large_win_above=WIN_ABOVE)
        with at(T0 - timedelta(days=3)):
            old = win(player_wallet, provider, WIN_ABOVE + 1, round_id="r-old")
        with at(T0 - timedelta(hours=2)):
            recent = win(player_wallet, provider, WIN_ABOVE + 2, round_id="r-recent")
        result = sweep_at(T0)
        assert (result.since, result.until) == (T0 - timedelta(hours=24) - timedelta(seconds=600), T0)
        assert [a.journal_id for a in alerts()] == [recent]

        out = io.StringIO()
        with at(T0):
            call_command("monitoring_sweep", "--since", "2026-11-27", stdout=out)
        lines = out.getvalue().splitlines()
        # One line per UTC day read, today included, then the totals.
        assert lines[0] == "2026-11-27: raised 0 large_win, 0 deposits_24h, 0 low_play_withdrawal"
        assert lines[1] == "2026-11-28: raised 1 large_win, 0 deposits_24h, 0 low_play_withdrawal"
        assert (
            len(lines) == 6
            and lines[-1]
            == "Read 2026-11-27 to 2026-12-02 (exclusive): raised 1 large_win, 0 deposits_24h, 0 low_play_withdrawal."
        )
        assert sorted(a.journal_id for a in alerts()) == sorted([old, recent])
        # The backfill leaves the sweep's cursor where the sweep left it; run again, it raises nothing.
        assert MonitoringCursor.objects.get().scanned_until == T0
        out = io.StringIO()
        with at(T0):
            call_command("monitoring_sweep", "--since", "2026-11-27", stdout=out)
        assert out.getvalue().splitlines()[-1].endswith("raised 0 large_win, 0 deposits_24h, 0 low_play_withdrawal.")

    def test_a_movement_stamped_before_a_sweep_and_committed_after_it_is_read_by_the_next(self, player_wallet):
        """A journal transaction is stamped before it waits for its lock: one stamped a minute
        before a sweep's end can commit after that sweep read its stretch."""
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        sweep_at(T0)
        late = deposit(player_wallet, DEPOSITS_ABOVE + 1, when=T0 - timedelta(minutes=1))
        result = sweep_at(T0 + timedelta(minutes=1))
        assert result.since == T0 - timedelta(seconds=600)
        assert [a.journal_id for a in alerts()] == [late]

    def test_without_the_settle_time_it_would_be_missed(self, player_wallet, settings):
        settings.MONITORING_SETTLE_SECONDS = 0
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        sweep_at(T0)
        deposit(player_wallet, DEPOSITS_ABOVE + 1, when=T0 - timedelta(minutes=1))
        assert sweep_at(T0 + timedelta(minutes=1)).total == 0

    def test_after_an_outage_each_sweep_catches_up_a_day(self, player_wallet, provider):
        thresholds(large_win_above=WIN_ABOVE)
        sweep_at(T0)
        with at(T0 + timedelta(days=2, hours=12)):
            late = win(player_wallet, provider, WIN_ABOVE + 1, round_id="r-late")
        first = sweep_at(T0 + timedelta(days=3))
        assert (first.since, first.until, first.total) == (T0 - timedelta(seconds=600), T0 + timedelta(days=1), 0)
        second = sweep_at(T0 + timedelta(days=3, minutes=1))
        assert second.until == T0 + timedelta(days=2) and second.total == 0
        third = sweep_at(T0 + timedelta(days=3, minutes=2))
        assert third.until == T0 + timedelta(days=3)
        assert [a.journal_id for a in alerts()] == [late]

    def test_the_nightly_re_read_catches_a_movement_slower_than_the_settle_time(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        sweep_at(T0)
        slow = deposit(player_wallet, DEPOSITS_ABOVE + 1, when=T0 - timedelta(hours=1))  # committed an hour late
        assert sweep_at(T0 + timedelta(minutes=1)).total == 0
        with at(datetime(2026, 12, 2, 1, 0, tzinfo=UTC)):
            result = monitoring_reread_yesterday()
        assert (result.since, result.until) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
        assert [a.journal_id for a in alerts()] == [slow]

    def test_a_night_the_re_read_did_not_run_is_read_with_the_next(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        sweep_at(T0)
        # Committed an hour late, on the first of December; the night after it the workers were down.
        slow = deposit(player_wallet, DEPOSITS_ABOVE + 1, when=T0 - timedelta(hours=1))
        with at(datetime(2026, 12, 1, 1, 0, tzinfo=UTC)):
            monitoring_reread_yesterday()  # the night before: reads November 30th
        with at(datetime(2026, 12, 3, 1, 0, tzinfo=UTC)):
            result = monitoring_reread_yesterday()
        assert (result.since, result.until) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC))
        assert [a.journal_id for a in alerts()] == [slow]
        with at(datetime(2026, 12, 3, 2, 0, tzinfo=UTC)):
            again = monitoring_reread_yesterday()  # run twice in a night: nothing left to read
        assert again.since == again.until
        # The sweep's lag is its own cursor's, not the re-read's.
        assert monitoring_scanned_until() == MonitoringCursor.objects.get(name=MonitoringCursor.JOURNAL).scanned_until

    def test_a_re_read_catches_up_a_week_at_most(self, player_wallet):
        with at(datetime(2026, 11, 1, 1, 0, tzinfo=UTC)):
            monitoring_reread_yesterday()
        with at(datetime(2026, 12, 2, 1, 0, tzinfo=UTC)):
            result = monitoring_reread_yesterday()
        assert (result.since, result.until) == (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))

    def test_a_backfill_starts_at_the_journal_s_first_day(self, player_wallet):
        out = io.StringIO()
        with at(T0):
            call_command("monitoring_sweep", "--since", "2000-01-01", stdout=out)
        lines = out.getvalue().splitlines()
        # funded_wallet's deposit, 30 days before T0, is the journal's first movement.
        assert lines[0].startswith("2026-11-01: raised") and len(lines) == 32
        assert (
            lines[-1]
            == "Read 2000-01-01 to 2026-12-02 (exclusive): raised 0 large_win, 0 deposits_24h, 0 low_play_withdrawal."
        )

    def test_the_command_refuses_an_empty_period(self, db):
        from django.core.management.base import CommandError

        with pytest.raises(CommandError, match="empty"):
            call_command("monitoring_sweep", "--since", "2026-12-02", "--until", "2026-12-01")
        with pytest.raises(CommandError, match="--until needs --since"):
            call_command("monitoring_sweep", "--until", "2026-12-01")


@pytest.mark.django_db(transaction=True)
def test_a_sweep_skips_its_turn_while_another_has_it():
    monitoring_sweep()  # the cursor row exists from here on
    holder_ready, release = threading.Event(), threading.Event()

    def hold():
        try:
            with exclusive_turn("monitoring_sweep:journal") as mine:
                assert mine
                holder_ready.set()
                release.wait(10)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(hold)
        assert holder_ready.wait(10)
        try:
            assert monitoring_sweep().skipped
        finally:
            release.set()
        held.result()
    assert not monitoring_sweep().skipped


@pytest.mark.django_db(transaction=True)
def test_a_sweep_reads_without_holding_back_the_withdrawal_event_feed(monkeypatch, game, provider):
    """The feed serves events below the oldest open transaction that writes: a sweep reading
    a day's journal inside one (as it did) held every payment system's feed back that long."""
    with at(T0 - timedelta(days=30)):
        player_wallet = funded_wallet(amount=10_000)
    thresholds(large_win_above=WIN_ABOVE)
    with at(T0 - timedelta(hours=1)):
        big = win(player_wallet, provider, WIN_ABOVE + 1, round_id="r-big")
    ids_while_reading = []
    real = monitoring._found

    def reading(**window):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id_if_assigned()")
            ids_while_reading.append(cursor.fetchone()[0])
        return real(**window)

    monkeypatch.setattr(monitoring, "_found", reading)
    with at(T0):
        assert monitoring_sweep().raised["large_win"] == 1
        assert monitoring_backfill(since=T0 - timedelta(days=1), until=T0).total == 0
    assert ids_while_reading == [None, None]
    assert [a.journal_id for a in alerts("large_win")] == [big]
    assert MonitoringCursor.objects.get().scanned_until == T0


@pytest.mark.django_db(transaction=True)
def test_parallel_sweeps_and_backfills_raise_each_alert_once(game, provider):
    """Four sweeps and four backfills of the same day race in threads on real PostgreSQL: each
    movement has one alert per rule, and nothing fails."""
    with at(T0 - timedelta(days=30)):
        player_wallet = funded_wallet(amount=10_000)
    thresholds(large_win_above=WIN_ABOVE, deposits_24h_above=DEPOSITS_ABOVE)
    with at(T0 - timedelta(hours=1)):
        wins = [win(player_wallet, provider, WIN_ABOVE + n, round_id=f"r-{n}") for n in range(1, 6)]
    crossing = [deposit(player_wallet, DEPOSITS_ABOVE + 1, when=T0 - timedelta(hours=30 - 25 * n)) for n in range(2)]
    start = threading.Barrier(8)

    def one(n: int):
        try:
            start.wait(10)
            if n % 2:
                return monitoring_sweep().total
            return monitoring_backfill(since=T0 - timedelta(days=2), until=T0).total
        finally:
            connection.close()

    # Patched once for all threads: patches entered and left in parallel restore each other.
    with at(T0), ThreadPoolExecutor(max_workers=8) as pool:
        raised = list(pool.map(one, range(8)))
    assert sum(raised) == len(wins) + len(crossing)
    assert sorted(a.journal_id for a in alerts("large_win")) == sorted(wins)
    assert sorted(a.journal_id for a in alerts("deposits_24h")) == sorted(crossing)


@pytest.mark.django_db
class TestDecisions:
    @pytest.fixture
    def alert(self, player_wallet, provider):
        thresholds(large_win_above=WIN_ABOVE)
        win(player_wallet, provider, WIN_ABOVE + 1, round_id="r-big")
        monitoring_sweep()
        return MonitoringAlert.objects.get()

    def test_cleared_once_with_a_reason(self, alert):
        done = monitoring_alert_decide(
            alert_id=alert.pk, staff="staff:ana", decision="clear", memo="jackpot, known player"
        )
        assert (done.status, done.decided_by, done.decision_memo, done.report_reference) == (
            "cleared",
            "staff:ana",
            "jackpot, known player",
            "",
        )
        with pytest.raises(AlertAlreadyDecided) as refused:
            monitoring_alert_decide(
                alert_id=alert.pk, staff="staff:bo", decision="report", memo="x", report_reference="S1"
            )
        assert refused.value.details == {"status": "cleared"}
        assert MonitoringAlert.objects.get().decided_by == "staff:ana"

    def test_a_report_needs_its_reference_and_a_clearance_none(self, alert):
        with pytest.raises(ValidationFailed, match="reference"):
            monitoring_alert_decide(alert_id=alert.pk, staff="staff:ana", decision="report", memo="odd pattern")
        with pytest.raises(ValidationFailed, match="no report"):
            monitoring_alert_decide(
                alert_id=alert.pk, staff="staff:ana", decision="clear", memo="fine", report_reference="S1"
            )
        with pytest.raises(ValidationFailed, match="reason"):
            monitoring_alert_decide(alert_id=alert.pk, staff="staff:ana", decision="clear", memo="  ")
        assert MonitoringAlert.objects.get().status == "pending"
        done = monitoring_alert_decide(
            alert_id=alert.pk, staff="staff:ana", decision="report", memo="odd pattern", report_reference="SAR-2026-17"
        )
        assert (done.status, done.report_reference) == ("reported", "SAR-2026-17")

    def test_the_database_refuses_a_report_without_its_reference(self, alert):
        with pytest.raises(IntegrityError), transaction.atomic():
            MonitoringAlert.objects.filter(pk=alert.pk).update(status="reported", decided_by="staff:ana")


@pytest.mark.django_db
class TestAdmin:
    @pytest.fixture
    def crossing_alert(self, player_wallet):
        thresholds(deposits_24h_above=DEPOSITS_ABOVE)
        deposit(player_wallet, 60_000, when=T0)
        deposit(player_wallet, 50_000, when=T0 + timedelta(hours=2))
        sweep_at(T0 + timedelta(hours=3))
        return MonitoringAlert.objects.get()

    def reviewer(self, client, *, may_decide: bool) -> None:
        user = User.objects.create_user("mo", password="x", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_monitoringalert"))
        if may_decide:
            user.user_permissions.add(Permission.objects.get(codename="review_monitoringalert"))
        client.force_login(user)

    def test_the_queue_and_the_review_page_show_the_deposits_behind_it(self, admin_client, crossing_alert):
        listing = admin_client.get(reverse("admin:wallet_monitoringalert_changelist")).content.decode()
        assert "Deposits in 24 hours" in listing or "deposits in 24 hours" in listing.lower()
        assert "1,100.00 EUR" in listing or "1100.00 EUR" in listing
        page = admin_client.get(reverse("admin:wallet_monitoringalert_review", args=[crossing_alert.pk]))
        content = page.content.decode()
        assert page.status_code == 200
        assert "600.00 EUR" in content and "500.00 EUR" in content and "1100.00 EUR" in content
        assert "operator:psp" in content
        assert "The wallet from 30 days before it until now</caption>" in content

    def test_staff_with_the_permission_clear_or_report_it(self, client, crossing_alert):
        self.reviewer(client, may_decide=True)
        url = reverse("admin:wallet_monitoringalert_review", args=[crossing_alert.pk])
        missing = client.post(url, {"decision": "report", "memo": "structuring"})
        assert missing.status_code == 200 and "A report needs the reference" in missing.content.decode()
        done = client.post(url, {"decision": "report", "memo": "structuring", "report_reference": "SAR-9"})
        assert done.status_code == 302
        assert messages_of(done) == [f"Monitoring alert {crossing_alert.pk} reported."]
        alert = MonitoringAlert.objects.get()
        assert (alert.status, alert.decided_by, alert.report_reference) == ("reported", "staff:mo", "SAR-9")
        again = client.post(url, {"decision": "clear", "memo": "fine"}, follow=True)
        assert "ALERT_ALREADY_DECIDED" in " ".join(messages_of(again))

    def test_staff_without_it_see_it_and_decide_nothing(self, client, crossing_alert):
        self.reviewer(client, may_decide=False)
        url = reverse("admin:wallet_monitoringalert_review", args=[crossing_alert.pk])
        assert "Can clear or report monitoring alerts" in client.get(url).content.decode()
        refused = client.post(url, {"decision": "clear", "memo": "fine"})
        assert refused.status_code == 302
        assert messages_of(refused) == ["You may not clear or report monitoring alerts."]
        assert MonitoringAlert.objects.get().status == "pending"

    def test_the_player_s_page_links_the_waiting_alerts(self, admin_client, crossing_alert):
        page = admin_client.get(reverse("admin:players_player_change", args=[crossing_alert.wallet.player_id]))
        assert "Monitoring alerts (1 waiting)" in page.content.decode()

    def test_staff_who_may_not_see_alerts_see_neither_them_nor_their_count(self, client, crossing_alert):
        user = User.objects.create_user("sam", password="x", is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(codename__in=["view_player", "change_player"]))
        client.force_login(user)
        review = client.get(reverse("admin:wallet_monitoringalert_review", args=[crossing_alert.pk]))
        assert review.status_code == 403
        posted = client.post(
            reverse("admin:wallet_monitoringalert_review", args=[crossing_alert.pk]),
            {"decision": "clear", "memo": "fine"},
        )
        assert posted.status_code == 403 and MonitoringAlert.objects.get().status == "pending"
        page = client.get(reverse("admin:players_player_change", args=[crossing_alert.wallet.player_id]))
        assert page.status_code == 200 and "Monitoring alerts" not in page.content.decode()

    def test_staff_clear_several_with_one_reason_and_are_told_of_one_decided_meanwhile(
        self, client, player_wallet, provider
    ):
        thresholds(large_win_above=WIN_ABOVE)
        for n in range(3):
            win(player_wallet, provider, WIN_ABOVE + 1 + n, round_id=f"r-big-{n}")
        monitoring_sweep()
        first, second, third = alerts()
        self.reviewer(client, may_decide=True)
        url = reverse("admin:wallet_monitoringalert_changelist")
        chosen = {"action": "clear_selected", ACTION_CHECKBOX_NAME: [first.pk, second.pk, third.pk]}
        confirm = client.post(url, chosen)
        assert confirm.status_code == 200
        assert "Clear 3 alert(s)" in confirm.content.decode() and "over 500.00 EUR" in confirm.content.decode()
        without_reason = client.post(url, {**chosen, "confirm": "yes", "memo": " "})
        assert without_reason.status_code == 200 and MonitoringAlert.objects.filter(status="pending").count() == 3
        monitoring_alert_decide(
            alert_id=second.pk, staff="staff:bo", decision="report", memo="odd", report_reference="SAR-1"
        )
        done = client.post(f"{url}?status=all", {**chosen, "confirm": "yes", "memo": "known high roller"})
        assert done.status_code == 302
        assert messages_of(done) == ["2 monitoring alert(s) cleared.", f"1 not cleared: {second.pk} (now reported)."]
        assert [(a.status, a.decided_by, a.decision_memo) for a in alerts()] == [
            ("cleared", "staff:mo", "known high roller"),
            ("reported", "staff:bo", "odd"),
            ("cleared", "staff:mo", "known high roller"),
        ]

    def test_clearing_in_bulk_needs_the_permission(self, client, crossing_alert):
        self.reviewer(client, may_decide=False)
        url = reverse("admin:wallet_monitoringalert_changelist")
        assert "clear_selected" not in client.get(url).content.decode()
        refused = client.post(
            url,
            {"action": "clear_selected", ACTION_CHECKBOX_NAME: [crossing_alert.pk], "confirm": "yes", "memo": "fine"},
        )
        assert refused.status_code in (200, 302) and MonitoringAlert.objects.get().status == "pending"

    def test_the_alerts_export_as_csv_with_their_decisions(self, client, player_wallet, crossing_alert):
        thresholds(low_play_withdrawal_percent=50)
        withdraw(player_wallet, 20_000, T0 + timedelta(hours=4))
        sweep_at(T0 + timedelta(hours=5))
        low_play = MonitoringAlert.objects.get(rule="low_play_withdrawal")
        monitoring_alert_decide(
            alert_id=crossing_alert.pk,
            staff="staff:ana",
            decision="report",
            memo="=structuring",
            report_reference="S-1",
        )
        self.reviewer(client, may_decide=False)
        response = client.post(
            reverse("admin:wallet_monitoringalert_changelist") + "?status=all",
            {"action": "export_csv", ACTION_CHECKBOX_NAME: [low_play.pk, crossing_alert.pk]},
        )
        assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="monitoring-alerts_')
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        player = player_wallet.player.player_id
        assert [{k: v for k, v in row.items() if k not in ("raised_at", "decided_at")} for row in rows] == [
            {
                "alert_id": str(crossing_alert.pk),
                "rule": "deposits_24h",
                "status": "reported",
                "player_id": player,
                "currency": "EUR",
                "amount": "500.00",
                "round_won": "",
                "deposited": "1100.00",
                "wagered": "",
                "figure_amount": "1000.00",
                "figure_percent": "",
                "occurred_at": "2026-12-01T14:00:00Z",
                "journal_transaction_id": str(crossing_alert.journal_id),
                "decided_by": "staff:ana",
                "decision_memo": "'=structuring",
                "report_reference": "S-1",
            },
            {
                "alert_id": str(low_play.pk),
                "rule": "low_play_withdrawal",
                "status": "pending",
                "player_id": player,
                "currency": "EUR",
                "amount": "200.00",
                "round_won": "",
                "deposited": "1100.00",
                "wagered": "0.00",
                "figure_amount": "",
                "figure_percent": "50",
                "occurred_at": "2026-12-01T16:00:00Z",
                "journal_transaction_id": str(low_play.journal_id),
                "decided_by": "",
                "decision_memo": "",
                "report_reference": "",
            },
        ]
        assert rows[0]["decided_at"] and rows[1]["decided_at"] == ""


@pytest.mark.django_db
def test_metrics_show_the_waiting_alerts_and_the_sweep_s_lag(client, player_wallet, provider):
    from casino_platform.tests.test_metrics import scrape, value

    thresholds(large_win_above=WIN_ABOVE)
    win(player_wallet, provider, WIN_ABOVE + 1, round_id="r-big")
    assert ("monitoring_sweep_lag_seconds", frozenset()) not in scrape(client)  # no sweep yet
    monitoring_sweep()
    with at(clock.now() + timedelta(seconds=30)):
        samples = scrape(client)
    assert value(samples, "monitoring_alerts_pending", currency="EUR", rule="large_win") == 1
    assert value(samples, "monitoring_alerts_pending", currency="EUR", rule="deposits_24h") == 0
    assert value(samples, "monitoring_alerts_pending_oldest_age_seconds", currency="EUR", rule="large_win") >= 30
    assert 30 <= value(samples, "monitoring_sweep_lag_seconds") < 120


@pytest.mark.django_db(transaction=True)
def test_celery_beat_raises_the_alert_of_a_win_paid_over_http(worker, live_server):  # noqa: F811
    """The sandbox's provider pays a large win over a socket; the real worker's beat sweep
    (MONITORING_SWEEP_SECONDS=1 in the test worker) lists it within seconds."""
    call_command("seed_sandbox", stdout=io.StringIO())
    thresholds(large_win_above=WIN_ABOVE)
    api = ProviderClient(base_url=live_server.url, session=requests.Session())
    assert api.post("debit", debit_payload(launch("p_demo_1"), "beat-d1")).status == 200
    win_call = {
        "transaction_id": "beat-c1",
        "player_id": "p_demo_1",
        "round_id": "r-beat-d1",
        "game_id": "sandbox:dice",
        "amount": WIN_ABOVE + 1,
        "currency": "EUR",
        "reason": "win",
    }
    paid = api.post("credit", win_call)
    assert paid.status == 200, paid.body
    wait_for(MonitoringAlert.objects.exists, timeout=30, message="the beat sweep's alert")
    (alert,) = alerts()
    expected = ("large_win", WIN_ABOVE + 1, int(paid.body["platform_transaction_id"]))
    assert (alert.rule, alert.amount, alert.journal_id) == expected


def test_the_sweeps_that_may_read_a_day_have_the_long_tasks_time_limit(settings):
    """The first sweep, one after an outage and the nightly re-read each read up to a day: under
    the default limit such a read was undone at 120 s and tried again every minute."""
    from wallet.tasks import monitoring_reread_task, monitoring_sweep_task

    for task in (monitoring_sweep_task, monitoring_reread_task):
        assert task.soft_time_limit == settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS
        assert task.time_limit > task.soft_time_limit
