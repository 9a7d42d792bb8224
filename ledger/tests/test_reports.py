"""Finance's ledger reports: the trial balance, gross gaming revenue (per provider and per game),
the cashier and the journal, from the selectors through the CSV to `manage.py ledger_report`
and the admin's Reports page."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casino_platform import clock
from ledger.exports import REPORTS, STREAM_CHUNK_CHARS, Period, in_chunks, report_csv
from ledger.models import ExportRecord, JournalTransaction
from ledger.selectors import (
    ledger_cashier,
    ledger_game_ggr,
    ledger_journal_lines,
    ledger_provider_ggr,
    ledger_trial_balance,
    ledger_trial_balance_summary,
)
from provider.tests.factories import GameFactory, ProviderFactory
from wallet.models import Wallet
from wallet.services import (
    cashier_deposit,
    cashier_withdraw,
    wallet_adjust,
    wallet_credit,
    wallet_debit,
    wallet_deposit,
    wallet_rollback,
    wallet_withdrawal_return,
)
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db

DAY_1 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
DAY_2 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTLED = datetime(2026, 12, 3, tzinfo=UTC)  # both days' figures final
BOTH_DAYS = Period.of_days(date(2026, 11, 30), date(2026, 12, 2))
SECOND_DAY = Period.of_days(date(2026, 12, 1), date(2026, 12, 2))


@pytest.fixture
def at(monkeypatch):
    """Move the platform's clock, which stamps journal transactions and their entries."""

    def move(when: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: when)

    return move


@pytest.fixture
def books(at):
    """Day 1: EUR 100.00 deposited; bets of 3.00 and 2.00, a win of 5.00, the 2.00 bet rolled
    back; JPY 5,000 deposited and a bet of 700. Day 2: a bet of 10.00, an adjustment of -0.50."""
    at(DAY_1)
    provider = ProviderFactory()
    GameFactory(provider=provider)
    eur = funded_wallet(amount=10_000)
    wallet_debit(provider=provider, request=debit_request(eur, amount=300, round_id="r1", tx="bet-1"))
    wallet_credit(provider=provider, request=credit_request(eur, amount=500, round_id="r1", tx="win-1"))
    wallet_debit(provider=provider, request=debit_request(eur, amount=200, round_id="r2", tx="bet-2"))
    wallet_rollback(provider=provider, request=rollback_request(eur, reference="bet-2", round_id="r2", tx="rb-2"))
    jpy = funded_wallet(currency="JPY", amount=5_000)
    wallet_debit(provider=provider, request=debit_request(jpy, amount=700, round_id="r-jpy", tx="bet-jpy"))
    at(DAY_2)
    wallet_debit(provider=provider, request=debit_request(eur, amount=1_000, round_id="r3", tx="bet-3"))
    wallet_adjust(
        player_id=eur.player.player_id, currency="EUR", amount=-50, created_by="staff:ann", reason="=HYPERLINK(1)"
    )
    return {"eur": Wallet.objects.get(pk=eur.pk), "jpy": Wallet.objects.get(pk=jpy.pk), "provider": provider}


def csv_rows(report: str, period: Period, currency: str | None = None) -> list[dict[str, str]]:
    text = "".join(report_csv(REPORTS[report], period=period, currency=currency))
    return list(csv.DictReader(io.StringIO(text)))


class TestTrialBalance:
    def test_each_currency_sums_to_zero_at_both_ends(self, books):
        rows = list(ledger_trial_balance(since=SECOND_DAY.since, until=SECOND_DAY.until))
        for currency in ("EUR", "JPY"):
            assert sum(r["opening"] for r in rows if r["currency"] == currency) == 0
            assert sum(r["closing"] for r in rows if r["currency"] == currency) == 0

    def test_a_wallets_closing_balance_is_its_balance_and_its_opening_what_day_1_left(self, books):
        eur = books["eur"]
        rows = list(ledger_trial_balance(since=SECOND_DAY.since, until=SECOND_DAY.until, currency="EUR"))
        wallet_row = next(r for r in rows if r["account"] == eur.account.key)
        assert wallet_row == {
            "account": eur.account.key,
            "kind": "player_wallet",
            "currency": "EUR",
            "opening": 10_000 - 300 + 500 - 200 + 200,
            "increases": 0,
            "decreases": -1_050,
            "closing": eur.balance,
            "entries": 2,
        }
        assert eur.balance == 9_150
        assert {r["currency"] for r in rows} == {"EUR"}

    def test_an_account_with_nothing_before_the_end_is_not_listed(self, books):
        day_before = Period.of_days(date(2026, 11, 29))
        assert list(ledger_trial_balance(since=day_before.since, until=day_before.until)) == []


class TestTrialBalanceSummary:
    def test_the_accounts_in_all_per_kind_and_currency(self, books):
        accounts = list(ledger_trial_balance(since=SECOND_DAY.since, until=SECOND_DAY.until))
        summed: dict[tuple[str, str], dict[str, int]] = {}
        for row in accounts:
            into = summed.setdefault((row["kind"], row["currency"]), dict.fromkeys(MOVED, 0) | {"accounts": 0})
            into["accounts"] += 1
            for column in MOVED:
                into[column] += row[column]
        summary = list(ledger_trial_balance_summary(since=SECOND_DAY.since, until=SECOND_DAY.until))
        assert {(r["kind"], r["currency"]): {k: r[k] for k in (*MOVED, "accounts")} for r in summary} == summed
        assert [(r["currency"], r["kind"]) for r in summary] == sorted((currency, kind) for kind, currency in summed)
        wallets = next(r for r in summary if (r["kind"], r["currency"]) == ("player_wallet", "EUR"))
        assert (wallets["opening"], wallets["decreases"], wallets["closing"]) == (10_200, -1_050, 9_150)

    def test_each_currency_s_kinds_sum_to_zero_at_both_ends(self, books):
        summary = list(ledger_trial_balance_summary(since=SECOND_DAY.since, until=SECOND_DAY.until, currency="JPY"))
        assert {r["currency"] for r in summary} == {"JPY"}
        assert sum(r["opening"] for r in summary) == sum(r["closing"] for r in summary) == 0

    def test_from_the_command_in_major_units(self, books, at):
        at(SETTLED)
        out = io.StringIO()
        call_command("ledger_report", "trial-balance-summary", "--since", "2026-12-01", "-o", "-", stdout=out)
        assert out.getvalue().startswith("kind,currency,accounts,opening,increases,decreases,closing,entries\r\n")
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        wallets = next(r for r in rows if (r["kind"], r["currency"]) == ("player_wallet", "EUR"))
        assert (wallets["accounts"], wallets["closing"], wallets["entries"]) == ("1", "91.50", "2")


# The columns the summary adds up from the trial balance's accounts.
MOVED = ("opening", "increases", "decreases", "closing", "entries")


class TestGrossGamingRevenue:
    def test_bets_payouts_rollbacks_per_day_provider_and_currency(self, books):
        code = books["provider"].code
        assert list(ledger_provider_ggr(since=BOTH_DAYS.since, until=BOTH_DAYS.until)) == [
            {
                "day": date(2026, 11, 30),
                "provider": code,
                "currency": "EUR",
                "bets": 500,
                "payouts": 500,
                "rolled_back": 200,
                "ggr": -200,
                "debits": 2,
                "credits": 1,
                "rollbacks": 1,
            },
            {
                "day": date(2026, 11, 30),
                "provider": code,
                "currency": "JPY",
                "bets": 700,
                "payouts": 0,
                "rolled_back": 0,
                "ggr": 700,
                "debits": 1,
                "credits": 0,
                "rollbacks": 0,
            },
            {
                "day": date(2026, 12, 1),
                "provider": code,
                "currency": "EUR",
                "bets": 1_000,
                "payouts": 0,
                "rolled_back": 0,
                "ggr": 1_000,
                "debits": 1,
                "credits": 0,
                "rollbacks": 0,
            },
        ]

    def test_a_movement_at_the_stroke_of_midnight_is_the_new_day_s_and_the_days_add_up(self, books, at):
        """[since, until) on both the entries' and their transactions' time: a bet stamped at
        00:00:00.000000 is the day it opens, one a microsecond before it the day before, and
        two one-day reports are the two-day report, each movement once."""
        provider, eur = books["provider"], books["eur"]
        midnight = datetime(2026, 12, 1, tzinfo=UTC)
        for when, tx in ((midnight - timedelta(microseconds=1), "edge-before"), (midnight, "edge-at")):
            at(when)
            wallet_debit(provider=provider, request=debit_request(eur, amount=10, round_id=tx, tx=tx))
        day_1 = list(ledger_provider_ggr(since=BOTH_DAYS.since, until=midnight, currency="EUR"))
        day_2 = list(ledger_provider_ggr(since=midnight, until=BOTH_DAYS.until, currency="EUR"))
        both = list(ledger_provider_ggr(since=BOTH_DAYS.since, until=BOTH_DAYS.until, currency="EUR"))
        assert [(row["day"], row["bets"], row["debits"]) for row in day_1 + day_2] == [
            (date(2026, 11, 30), 510, 3),
            (date(2026, 12, 1), 1_010, 2),
        ]
        assert day_1 + day_2 == both

    def test_per_game_each_movement_counts_for_its_rounds_game_and_the_games_add_up(self, books, at):
        provider = books["provider"]
        slot = GameFactory(provider=provider, game_id=f"{provider.code}:slot")
        at(DAY_2)
        eur = books["eur"]
        wallet_debit(provider=provider, request=debit_request(eur, amount=400, round_id="s1", game_id=slot.game_id))
        wallet_credit(provider=provider, request=credit_request(eur, amount=100, round_id="s1", game_id=slot.game_id))
        by_game = list(ledger_game_ggr(since=BOTH_DAYS.since, until=BOTH_DAYS.until, currency="EUR"))
        assert [(r["day"], r["game"], r["bets"], r["payouts"], r["rolled_back"], r["ggr"]) for r in by_game] == [
            (date(2026, 11, 30), "sandbox:dice", 500, 500, 200, -200),
            (date(2026, 12, 1), "sandbox:dice", 1_000, 0, 0, 1_000),
            (date(2026, 12, 1), "sandbox:slot", 400, 100, 0, 300),
        ]
        by_provider = list(ledger_provider_ggr(since=BOTH_DAYS.since, until=BOTH_DAYS.until, currency="EUR"))
        for row in by_provider:
            games = [r for r in by_game if (r["day"], r["provider"]) == (row["day"], row["provider"])]
            for column in ("bets", "payouts", "rolled_back", "ggr", "debits", "credits", "rollbacks"):
                assert sum(r[column] for r in games) == row[column], column
        rows = csv_rows("game-ggr", SECOND_DAY, currency="EUR")
        assert [(r["game"], r["bets"], r["payouts"], r["ggr"]) for r in rows] == [
            ("sandbox:dice", "10.00", "0.00", "10.00"),
            ("sandbox:slot", "4.00", "1.00", "3.00"),
        ]

    def test_back_office_movements_are_not_gaming_revenue(self, books):
        rows = list(ledger_provider_ggr(since=SECOND_DAY.since, until=SECOND_DAY.until, currency="EUR"))
        assert [(r["bets"], r["ggr"]) for r in rows] == [(1_000, 1_000)]


@pytest.fixture
def cashier_books(at):
    """Day 1: a player pays in 100.00 through the operator API and staff record 20.00 by bank
    transfer; a payout of 30.00 is asked for, and 1,000 JPY paid in by the sandbox's seed.
    Day 2: the 30.00 payout comes back (failed), 10.00 is paid out, staff adjust by -0.50."""
    at(DAY_1)
    player = funded_wallet(amount=0).player
    api = {"player_id": player.player_id, "operator": "operator:psp", "reason": "card"}
    cashier_deposit(currency="EUR", amount=10_000, reference="dep-1", **api)
    wallet_deposit(player_id=player.player_id, currency="EUR", amount=2_000, created_by="staff:ann", reason="bank")
    cashier_withdraw(currency="EUR", amount=3_000, reference="po-1", **api)
    funded_wallet(player=player, currency="JPY", amount=0)
    wallet_deposit(player_id=player.player_id, currency="JPY", amount=1_000, created_by="seed_sandbox", reason="seed")
    at(DAY_2)
    wallet_withdrawal_return(player_id=player.player_id, reference="po-1", created_by="operator:psp", reason="bounced")
    cashier_withdraw(currency="EUR", amount=1_000, reference="po-2", **api)
    wallet_adjust(player_id=player.player_id, currency="EUR", amount=-50, created_by="staff:bob", reason="fee")
    return player


def cashier_row(day, currency, channel, **figures):
    row = {
        "day": day,
        "currency": currency,
        "channel": channel,
        "deposits": 0,
        "withdrawals": 0,
        "returned": 0,
        "adjustments": 0,
        "deposit_count": 0,
        "withdrawal_count": 0,
        "return_count": 0,
        "adjustment_count": 0,
        **figures,
    }
    row["net"] = row["deposits"] - row["withdrawals"] + row["returned"] + row["adjustments"]
    return row


class TestCashier:
    def test_cash_in_and_out_per_day_currency_and_channel(self, cashier_books):
        day_1, day_2 = date(2026, 11, 30), date(2026, 12, 1)
        assert list(ledger_cashier(since=BOTH_DAYS.since, until=BOTH_DAYS.until)) == [
            cashier_row(
                day_1, "EUR", "operator_api", deposits=10_000, deposit_count=1, withdrawals=3_000, withdrawal_count=1
            ),
            cashier_row(day_1, "EUR", "staff", deposits=2_000, deposit_count=1),
            cashier_row(day_1, "JPY", "seed_sandbox", deposits=1_000, deposit_count=1),
            cashier_row(
                day_2, "EUR", "operator_api", returned=3_000, return_count=1, withdrawals=1_000, withdrawal_count=1
            ),
            cashier_row(day_2, "EUR", "staff", adjustments=-50, adjustment_count=1),
        ]

    def test_the_net_of_a_period_is_the_change_in_what_the_players_are_owed(self, cashier_books):
        rows = list(ledger_cashier(since=BOTH_DAYS.since, until=BOTH_DAYS.until, currency="EUR"))
        wallet = Wallet.objects.get(player=cashier_books, currency_id="EUR")
        assert sum(row["net"] for row in rows) == wallet.balance == 10_000 + 2_000 - 1_000 - 50

    def test_play_is_not_cash(self, books):
        rows = list(ledger_cashier(since=SECOND_DAY.since, until=SECOND_DAY.until))
        assert [(r["channel"], r["adjustments"], r["deposits"]) for r in rows] == [("staff", -50, 0)]

    def test_from_the_command(self, cashier_books):
        out, err = io.StringIO(), io.StringIO()
        call_command("ledger_report", "cashier", "--since", "2026-11-30", "-o", "-", stdout=out, stderr=err)
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert [(r["channel"], r["deposits"], r["deposit_count"]) for r in rows] == [
            ("operator_api", "100.00", "1"),
            ("staff", "20.00", "1"),
            ("seed_sandbox", "1000", "1"),
        ]
        assert "3 rows to standard output" in err.getvalue()

    def test_as_csv_with_major_units(self, cashier_books):
        rows = csv_rows("cashier", SECOND_DAY, currency="EUR")
        assert [(r["channel"], r["withdrawals"], r["returned"], r["adjustments"], r["net"]) for r in rows] == [
            ("operator_api", "10.00", "30.00", "0.00", "20.00"),
            ("staff", "0.00", "0.00", "-0.50", "-0.50"),
        ]


class TestJournal:
    def test_every_entry_of_the_period_in_journal_order(self, books):
        lines = list(ledger_journal_lines(since=SECOND_DAY.since, until=SECOND_DAY.until))
        journals = JournalTransaction.objects.filter(created_at__gte=SECOND_DAY.since).order_by("id")
        assert [(line["transaction_id"], line["leg"]) for line in lines] == [
            (j.pk, leg) for j in journals for leg in (1, 2)
        ]
        assert sum(line["amount"] for line in lines) == 0
        bet = next(line for line in lines if line["provider_transaction_id"] == "bet-3")
        assert bet["kind"] == "debit" and bet["round_id"] == "r3" and bet["created_at"] == DAY_2


class TestCsv:
    def test_money_in_major_units_with_each_currencys_exponent(self, books):
        rows = csv_rows("ggr", BOTH_DAYS)
        assert [(r["currency"], r["bets"], r["ggr"]) for r in rows] == [
            ("EUR", "5.00", "-2.00"),
            ("JPY", "700", "700"),
            ("EUR", "10.00", "10.00"),
        ]
        assert rows[0]["day"] == "2026-11-30" and rows[0]["debits"] == "2"

    def test_text_a_spreadsheet_would_run_is_escaped_and_numbers_are_not(self, books):
        rows = csv_rows("journal", SECOND_DAY)
        adjustment = [r for r in rows if r["kind"] == "adjustment"]
        assert {r["memo"] for r in adjustment} == {"'=HYPERLINK(1)"}
        assert sorted(r["amount"] for r in adjustment) == ["-0.50", "0.50"]
        assert rows[0]["created_at"] == "2026-12-01T09:00:00Z"

    @pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
    def test_every_start_a_spreadsheet_runs_is_escaped_in_any_text_column(self, books, at, start):
        # A memo staff typed and a provider's transaction id alike: text from outside.
        at(DAY_2)
        wallet_adjust(
            player_id=books["eur"].player.player_id,
            currency="EUR",
            amount=1,
            created_by="staff:t",
            reason=f"{start}cmd",
        )
        rows = [r for r in csv_rows("journal", SECOND_DAY) if r["memo"].endswith("cmd")]
        assert {r["memo"] for r in rows} == {f"'{start}cmd"}

    def test_the_trial_balance_csv_has_its_header_and_one_line_per_account(self, books):
        text = "".join(report_csv(REPORTS["trial-balance"], period=SECOND_DAY, currency="JPY"))
        lines = text.split("\r\n")
        assert lines[0] == "account,kind,currency,opening,increases,decreases,closing,entries"
        wallet = next(line for line in lines if line.startswith(books["jpy"].account.key + ","))
        assert wallet.endswith(",player_wallet,JPY,4300,0,0,4300,0")


class TestStreamedChunks:
    def test_lines_go_out_joined_in_chunks_of_about_64_kb_never_split(self):
        lines = [f"{n:099d}\n" for n in range(2_000)]  # 200 KB in lines of 100 characters
        chunks = list(in_chunks(iter(lines)))
        assert "".join(chunks) == "".join(lines)
        assert len(chunks) == 4 and all(STREAM_CHUNK_CHARS <= len(c) < STREAM_CHUNK_CHARS + 100 for c in chunks[:-1])
        assert all(c.endswith("\n") for c in chunks)
        assert list(in_chunks(iter([]))) == []


class TestPeriod:
    def test_yesterday_by_default_and_one_day_from_either_end(self):
        today = date(2026, 12, 6)
        assert Period.of_days(today=today) == Period(
            datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)
        )
        assert Period.of_days(date(2026, 11, 1)).until == datetime(2026, 11, 2, tzinfo=UTC)
        assert Period.of_days(until=date(2026, 11, 1)).since == datetime(2026, 10, 31, tzinfo=UTC)

    @pytest.mark.parametrize("until", [date(2026, 11, 1), date(2026, 10, 1)])
    def test_an_empty_period_is_refused(self, until):
        with pytest.raises(ValueError, match="empty"):
            Period.of_days(date(2026, 11, 1), until)


class TestCommand:
    def test_writes_the_file_it_names_and_says_how_many_rows(self, books, at, tmp_path, monkeypatch):
        at(SETTLED)
        monkeypatch.chdir(tmp_path)
        out = io.StringIO()
        call_command("ledger_report", "ggr", "--since", "2026-11-30", "--until", "2026-12-02", stdout=out)
        written = tmp_path / "ggr_2026-11-30_2026-12-02.csv"
        assert written.read_text().count("\n") == 4
        assert "3 rows to ggr_2026-11-30_2026-12-02.csv" in out.getvalue()
        assert "2026-11-30 to 2026-12-02 (exclusive)" in out.getvalue()

    def test_a_period_that_has_not_settled_is_refused_unless_asked_for_provisional_figures(
        self, books, at, tmp_path, monkeypatch
    ):
        monkeypatch.chdir(tmp_path)
        at(datetime(2026, 12, 2, 0, 3, tzinfo=UTC))  # three minutes after the period's end
        with pytest.raises(CommandError, match="its figures are final from 2026-12-02 00:05 UTC"):
            call_command("ledger_report", "ggr", "--since", "2026-12-01", stdout=io.StringIO())
        assert not list(tmp_path.iterdir())
        out = io.StringIO()
        call_command("ledger_report", "ggr", "--since", "2026-12-01", "--allow-unsettled", stdout=out)
        assert "movements still committing may be missing" in out.getvalue()
        assert (tmp_path / "ggr_2026-12-01_2026-12-02_provisional.csv").exists()
        at(datetime(2026, 12, 2, 0, 6, tzinfo=UTC))
        out = io.StringIO()
        call_command("ledger_report", "ggr", "--since", "2026-12-01", stdout=out)
        assert "may be missing" not in out.getvalue()
        assert (tmp_path / "ggr_2026-12-01_2026-12-02.csv").exists()

    def test_a_run_that_fails_leaves_no_file(self, books, tmp_path, monkeypatch):
        def broken(*args, **kwargs):
            yield "header\r\n"
            raise RuntimeError("the database went away")

        monkeypatch.setattr("ledger.management.commands.ledger_report.report_csv", broken)
        with pytest.raises(RuntimeError):
            call_command("ledger_report", "journal", "-o", str(tmp_path / "j.csv"), stdout=io.StringIO())
        assert list(tmp_path.iterdir()) == []
        assert ExportRecord.objects.get().rows is None  # begun, and on record, but never finished

    def test_standard_output_holds_only_the_csv(self, books, at):
        at(SETTLED)
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "ledger_report", "journal", "--since", "2026-12-01", "--currency", "eur", "-o", "-", stdout=out, stderr=err
        )
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert len(rows) == 4 and {r["currency_id"] for r in rows} == {"EUR"}
        assert "4 rows to standard output" in err.getvalue()

    @pytest.mark.parametrize(
        "args, message",
        [
            (["--since", "2026-12-01", "--until", "2026-12-01"], "The period is empty"),
            (["--since", "1 Dec"], "not a date"),
            (["--currency", "XXX"], "Unknown currency 'XXX'"),
        ],
    )
    def test_bad_arguments_are_explained(self, db, args, message):
        with pytest.raises(CommandError, match=message):
            call_command("ledger_report", "trial-balance", "-o", "-", *args, stdout=io.StringIO())

    def test_an_output_that_cannot_be_written_is_refused_before_the_report_runs(self, db, tmp_path, at):
        # Noon: yesterday, the default period, is final (in the first minutes after midnight the
        # command refused it for that before it looked at the output).
        at(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
        (tmp_path / "folder").mkdir()
        for output, message in (
            (tmp_path / "folder", "is a directory"),
            (tmp_path / "missing" / "r.csv", "there is no directory"),
        ):
            with pytest.raises(CommandError, match=message):
                call_command("ledger_report", "journal", "-o", str(output), stdout=io.StringIO())
        assert [p.name for p in tmp_path.iterdir()] == ["folder"]  # and no .part left
        assert list((tmp_path / "folder").iterdir()) == []

    def test_the_help_names_every_report(self):
        from ledger.management.commands.ledger_report import Command

        assert all(name in Command.help for name in REPORTS)


@pytest.fixture
def finance(client):
    user = User.objects.create_user("fiona", password="x", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="export_reports"), Permission.objects.get(codename="view_journaltransaction")
    )
    client.force_login(user)
    return client


@pytest.fixture
def support(client):
    user = User.objects.create_user("sam", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_journaltransaction"))
    client.force_login(user)
    return client


class TestAdmin:
    url = reverse("admin:ledger_reports")

    def test_needs_the_export_permission(self, support):
        assert support.get(self.url).status_code == 403
        changelist = support.get(reverse("admin:ledger_journaltransaction_changelist"))
        assert changelist.status_code == 200 and self.url not in changelist.content.decode()

    def test_the_journal_list_links_to_the_reports_for_finance(self, finance):
        changelist = finance.get(reverse("admin:ledger_journaltransaction_changelist"))
        assert self.url in changelist.content.decode()
        page = finance.get(self.url)
        assert page.status_code == 200 and "Download CSV" in page.content.decode()

    def test_a_valid_form_downloads_the_report(self, finance, books, at, django_assert_max_num_queries):
        at(SETTLED)
        params = {"report": "trial-balance", "since": "2026-12-01", "until": "2026-12-02", "currency": "EUR"}
        # The page (with the device the session passed the second factor with), the rows'
        # transaction (a savepoint in the test's) with its settings, and the export's record
        # (in a savepoint of its own here) and its rows
        with django_assert_max_num_queries(15):
            response = finance.get(self.url, params)
            body = b"".join(response.streaming_content).decode()
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="trial-balance_2026-12-01_2026-12-02_EUR.csv"'
        rows = list(csv.DictReader(io.StringIO(body)))
        assert sum(int(r["entries"]) for r in rows) == 4
        assert next(r for r in rows if r["account"] == books["eur"].account.key)["closing"] == "91.50"

    def test_a_period_not_settled_yet_downloads_as_provisional(self, finance, books, at):
        at(datetime(2026, 12, 2, 0, 2, tzinfo=UTC))
        assert "Yesterday's figures are final from 00:05 UTC" in finance.get(self.url).content.decode()
        response = finance.get(self.url, {"report": "ggr", "since": "2026-12-01", "until": "2026-12-02"})
        assert response["Content-Disposition"] == 'attachment; filename="ggr_2026-12-01_2026-12-02_provisional.csv"'
        at(datetime(2026, 12, 2, 0, 5, tzinfo=UTC))
        assert "are final from" not in finance.get(self.url).content.decode()
        response = finance.get(self.url, {"report": "ggr", "since": "2026-12-01", "until": "2026-12-02"})
        assert response["Content-Disposition"] == 'attachment; filename="ggr_2026-12-01_2026-12-02.csv"'

    def test_the_download_reads_its_rows_in_a_transaction(self, finance, books):
        """Outside one, the cursor is declared WITH HOLD and PostgreSQL builds the whole
        result before the first row. (The test's own transaction makes it a savepoint.) A
        reader that stops reading does not hold the snapshot past the idle timeout, and the
        rows are planned to be read in full."""
        params = {"report": "journal", "since": "2026-12-01", "until": "2026-12-02"}
        with CaptureQueriesContext(connection) as queries:
            response = finance.get(self.url, params)
            body = b"".join(response.streaming_content).decode()
        assert len(list(csv.DictReader(io.StringIO(body)))) == 4
        sql = [q["sql"] for q in queries.captured_queries]
        timeout = next(i for i, q in enumerate(sql) if "idle_in_transaction_session_timeout" in q)
        # Planned to read every row (a cursor's default plans for the first tenth, and walked
        # the whole journal's key to read one day of it).
        whole = next(i for i, q in enumerate(sql) if "cursor_tuple_fraction" in q)
        opened = max(i for i in range(min(timeout, whole)) if sql[i].startswith("SAVEPOINT"))
        released = sql.index(f"RELEASE {sql[opened]}")
        report = next(i for i, q in enumerate(sql) if "ledger_entry" in q and i > opened)
        # The export's record is written, in a transaction of its own, before the rows' opens.
        recorded = next(i for i, q in enumerate(sql) if q.startswith('INSERT INTO "ledger_exportrecord"'))
        assert recorded < opened < whole < report < released and opened < timeout < report

    def test_finance_downloads_the_cashier_report(self, finance, cashier_books, at):
        at(SETTLED)
        response = finance.get(self.url, {"report": "cashier", "since": "2026-11-30", "until": "2026-12-02"})
        assert response["Content-Disposition"] == 'attachment; filename="cashier_2026-11-30_2026-12-02.csv"'
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [(r["day"], r["currency"], r["channel"], r["net"]) for r in rows] == [
            ("2026-11-30", "EUR", "operator_api", "70.00"),
            ("2026-11-30", "EUR", "staff", "20.00"),
            ("2026-11-30", "JPY", "seed_sandbox", "1000"),
            ("2026-12-01", "EUR", "operator_api", "20.00"),
            ("2026-12-01", "EUR", "staff", "-0.50"),
        ]

    def test_an_empty_period_shows_the_form_again_with_the_reason(self, finance):
        page = finance.get(self.url, {"report": "ggr", "since": "2026-12-02", "until": "2026-12-01"})
        assert page.status_code == 200
        assert "The period is empty" in page.content.decode()
        assert not ExportRecord.objects.exists()

    def test_the_download_goes_out_in_chunks_not_a_write_per_row(self, finance, books, at):
        at(SETTLED)
        response = finance.get(self.url, {"report": "journal", "since": "2026-11-30", "until": "2026-12-02"})
        chunks = list(response.streaming_content)
        assert len(chunks) == 1  # the header and 18 lines, each its own chunk before
        assert len(list(csv.DictReader(io.StringIO(chunks[0].decode())))) == 18

    def test_finance_downloads_the_trial_balance_summary(self, finance, books, at):
        at(SETTLED)
        params = {"report": "trial-balance-summary", "since": "2026-12-01", "until": "2026-12-02"}
        response = finance.get(self.url, params)
        assert response["Content-Disposition"].endswith('filename="trial-balance-summary_2026-12-01_2026-12-02.csv"')
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert {(r["kind"], r["currency"]) for r in rows} >= {("player_wallet", "EUR"), ("player_wallet", "JPY")}


class TestExportRecords:
    """Who exported what: each download from the Reports page and each run of the command."""

    url = reverse("admin:ledger_reports")

    def test_a_download_is_recorded_with_who_what_and_its_rows(self, finance, books, at):
        at(SETTLED)
        params = {"report": "ggr", "since": "2026-11-30", "until": "2026-12-02", "currency": "EUR"}
        response = finance.get(self.url, params)
        record = ExportRecord.objects.get()
        assert (record.exported_by, record.report, record.currency, record.provisional) == (
            "staff:fiona",
            "ggr",
            "EUR",
            False,
        )
        assert (record.since, record.until, record.exported_at) == (BOTH_DAYS.since, BOTH_DAYS.until, SETTLED)
        assert record.rows is None  # recorded before the first row is read
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        record.refresh_from_db()
        assert record.rows == len(rows) == 2

    def test_a_download_cut_off_is_on_record_without_rows(self, finance, books, at, monkeypatch):
        at(datetime(2026, 12, 1, 12, tzinfo=UTC))  # the day is not over: provisional
        response = finance.get(self.url, {"report": "journal", "since": "2026-12-01", "until": "2026-12-02"})
        next(iter(response.streaming_content))
        # The client went away: the server closes the response, which would also close the
        # test's own connection.
        monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: None)
        response.close()
        record = ExportRecord.objects.get()
        assert (record.report, record.provisional, record.rows) == ("journal", True, None)

    def test_the_command_records_the_os_user_or_whom_it_ran_for(self, books, at, tmp_path, monkeypatch):
        import getpass

        at(SETTLED)
        monkeypatch.chdir(tmp_path)
        call_command("ledger_report", "ggr", "--since", "2026-11-30", "--until", "2026-12-02", stdout=io.StringIO())
        for_fiona = ["--since", "2026-12-01", "--by", "fiona (month end)", "-o", "-"]
        call_command("ledger_report", "journal", *for_fiona, stdout=io.StringIO())
        assert list(ExportRecord.objects.order_by("id").values_list("exported_by", "report", "currency", "rows")) == [
            (f"command:{getpass.getuser()}", "ggr", "", 3),
            ("command:fiona (month end)", "journal", "", 4),
        ]
        with pytest.raises(CommandError, match="too long"):
            call_command("ledger_report", "ggr", "--by", "x" * 200, "-o", "-", stdout=io.StringIO())

    def test_the_records_are_listed_read_only_in_the_admin(self, admin_client, books, at):
        at(SETTLED)
        params = {"report": "cashier", "since": "2026-12-01", "until": "2026-12-02"}
        b"".join(admin_client.get(self.url, params).streaming_content)
        record = ExportRecord.objects.get()
        listed = admin_client.get(reverse("admin:ledger_exportrecord_changelist"), {"report": "cashier"})
        assert [r.pk for r in listed.context["cl"].result_list] == [record.pk]
        assert admin_client.get(reverse("admin:ledger_exportrecord_add")).status_code == 403
        assert admin_client.get(reverse("admin:ledger_exportrecord_delete", args=[record.pk])).status_code == 403
        page = admin_client.get(reverse("admin:ledger_exportrecord_change", args=[record.pk]))
        assert page.status_code == 200 and not page.context["has_change_permission"]


@pytest.mark.parametrize("command", [["ledger_report", "ggr"], ["monitoring_sweep"]])
def test_a_malformed_day_on_the_command_line_is_a_usage_error_not_a_traceback(command):
    # As an operator types it: call_command turns errors into CommandError either way.
    import os
    import subprocess
    import sys

    from django.conf import settings

    done = subprocess.run(
        [sys.executable, "manage.py", *command, "--since", "2026-13-01"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "casino_platform.settings_test"},
    )
    assert done.returncode == 2, done.stderr
    assert "not a date (YYYY-MM-DD): '2026-13-01'" in done.stderr and "Traceback" not in done.stderr
