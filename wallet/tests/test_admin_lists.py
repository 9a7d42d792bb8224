"""The wallet back office on tables of millions of rows, and its money as people read it: the
player page's links and the searches by a player's id find the player's wallets first and
read the rows by their wallet key; a change page shows amounts in the currency's units."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casino_platform.tests.plans import reads_whole, search_plan_of, sorted_whole
from ledger.models import JournalTransaction
from wallet.models import MonitoringAlert, StaffDayTotal, StaffMovement, Wallet, Withdrawal, WithdrawalEvent
from wallet.services import wallet_withdraw
from wallet.services.monitoring import monitoring_alert_decide
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def withdraw(wallet: Wallet, amount: int, reference: str) -> Withdrawal:
    wallet_withdraw(
        player_id=wallet.player.player_id,
        currency=wallet.currency_id,
        amount=amount,
        created_by="operator:test",
        reason="payout",
        reference=reference,
    )
    return Withdrawal.objects.get(reference=reference)


def alert(wallet: Wallet, *, amount: int, total: int | None = None, wagered: int | None = None) -> MonitoringAlert:
    """An alert on the wallet's latest movement, as the sweep raises one."""
    journal = JournalTransaction.objects.filter(entries__account=wallet.account_id).latest("id")
    return MonitoringAlert.objects.create(
        rule=MonitoringAlert.Rule.DEPOSITS_24H if wagered is None else MonitoringAlert.Rule.LOW_PLAY_WITHDRAWAL,
        wallet=wallet,
        journal=journal,
        amount=amount,
        total=total,
        wagered=wagered,
        threshold=amount - 1 if wagered is None else 50,
        occurred_at=journal.created_at,
        raised_at=journal.created_at,
    )


def demo_wallet(player_id: str = "p_demo_1") -> Wallet:
    return Wallet.objects.select_related("player").get(player__player_id=player_id, currency_id="EUR")


def joined_player_compared(queries: CaptureQueriesContext, table: str) -> bool:
    """Whether a query of `table`'s rows compared the joined player's id (`players_player.
    player_id = ...`) rather than the rows' own wallet key. (The player's wallets are found
    first by that id, along the players' and the wallets' keys.)"""
    return any(
        f'FROM "{table}"' in q["sql"] and '"players_player"."player_id" = ' in q["sql"]
        for q in queries.captured_queries
    )


class TestThePlayerPageLinks:
    def test_withdrawals_and_alerts_are_one_wallet_s_by_its_key_and_say_so(self, admin_client, sandbox):
        demo, other = demo_wallet(), demo_wallet("p_kyc_pending")
        withdraw(demo, 2_500, "po-mine")
        withdraw(other, 100, "po-other")
        mine = alert(demo, amount=2_500)
        alert(other, amount=100)
        page = admin_client.get(reverse("admin:players_player_change", args=[demo.player_id])).content.decode()
        withdrawals = reverse("admin:wallet_withdrawal_changelist") + f"?status=all&amp;wallet={demo.pk}"
        alerts = reverse("admin:wallet_monitoringalert_changelist") + f"?status=all&amp;wallet={demo.pk}"
        assert withdrawals in page and alerts in page
        for url, table, listed in (
            (withdrawals, "wallet_withdrawal", ["po-mine"]),
            (alerts, "wallet_monitoringalert", [str(mine)]),
        ):
            with CaptureQueriesContext(connection) as queries:
                r = admin_client.get(url.replace("&amp;", "&"))
            assert r.status_code == 200
            assert [str(row) for row in r.context["cl"].result_list] == listed
            assert not joined_player_compared(queries, table)
            # The sidebar says whose wallet the list is, and "All" undoes it.
            assert "p_demo_1, EUR" in r.content.decode()

    @pytest.mark.parametrize("value", ["abc", "9" * 40, "999999"])
    def test_a_wallet_that_is_no_number_or_none_is_refused_as_django_refuses_a_bad_filter(
        self, admin_client, sandbox, value
    ):
        """A wallet that does not exist, too: with no choice to list, Django dropped the
        filter and the page showed every row."""
        r = admin_client.get(reverse("admin:wallet_withdrawal_changelist"), {"wallet": value})
        assert r.status_code == 302 and r["Location"].endswith("?e=1")


class TestSearchesByIndex:
    """With sequential scans priced out (the test's tables are tiny), a plan that still reads
    the table whole, or one of its indexes end to end, has no index to find the rows by."""

    @pytest.fixture
    def rows(self, sandbox):
        demo = demo_wallet()
        withdrawal = withdraw(demo, 2_500, "po-search")
        withdraw(demo_wallet("p_kyc_pending"), 100, "po-else")
        reported = alert(demo, amount=2_500)
        alert(demo_wallet("p_kyc_pending"), amount=100)
        monitoring_alert_decide(
            alert_id=reported.pk, staff="staff:mo", decision="report", memo="odd", report_reference="SAR-77"
        )
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        return withdrawal, reported

    def search(self, admin_client, page, term):
        with CaptureQueriesContext(connection) as queries:
            queue = {} if page == "wallet_withdrawalevent" else {"status": "all"}  # not only those waiting
            r = admin_client.get(reverse(f"admin:{page}_changelist"), {"q": term, **queue})
        assert r.status_code == 200
        assert not joined_player_compared(queries, page)
        cl = r.context["cl"]
        return cl, search_plan_of(cl)

    def test_withdrawals_by_reference_or_player(self, admin_client, rows):
        withdrawal, _ = rows
        for term in ("po-search", "p_demo_1"):
            cl, plan = self.search(admin_client, "wallet_withdrawal", term)
            assert [w.pk for w in cl.result_list] == [withdrawal.pk], term
            assert not reads_whole(plan, "wallet_withdrawal"), plan

    def test_withdrawal_events_by_their_withdrawal_s_reference_or_player(self, admin_client, rows):
        withdrawal, _ = rows
        events = list(WithdrawalEvent.objects.filter(withdrawal=withdrawal).values_list("pk", flat=True))
        for term in ("po-search", "p_demo_1"):
            cl, plan = self.search(admin_client, "wallet_withdrawalevent", term)
            assert [e.pk for e in cl.result_list] == events, term
            assert not reads_whole(plan, "wallet_withdrawalevent"), plan
            assert not reads_whole(plan, "wallet_withdrawal"), plan  # the withdrawals it joins

    def test_monitoring_alerts_by_player_journal_or_report(self, admin_client, rows):
        _, reported = rows
        for term in ("p_demo_1", str(reported.journal_id), "SAR-77"):
            cl, plan = self.search(admin_client, "wallet_monitoringalert", term)
            assert [a.pk for a in cl.result_list] == [reported.pk], term
            assert not reads_whole(plan, "wallet_monitoringalert"), plan
            # A reference is found in the reported alerts' own index.
            assert term != "SAR-77" or "monitoring_alert_report_idx" in plan, plan


def test_staff_movements_by_player_reference_or_who_asked(admin_client, sandbox):
    from django.utils import timezone

    def held(wallet, reference, staff):
        return StaffMovement.objects.create(
            wallet=wallet, kind="deposit", amount=50_000, reference=reference, reason="t", requested_by=staff,
            requested_at=timezone.now(),
        )  # fmt: skip

    mine = held(demo_wallet(), "bank-77", "staff:ana")
    held(demo_wallet("p_kyc_pending"), "", "staff:bo")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    for term, index in (
        ("p_demo_1", None),
        ("bank-77", "staff_movement_ref_idx"),
        ("staff:ana", "staff_movement_by_idx"),
    ):
        with CaptureQueriesContext(connection) as queries:
            r = admin_client.get(reverse("admin:wallet_staffmovement_changelist"), {"q": term, "status": "all"})
        assert r.status_code == 200
        assert not joined_player_compared(queries, "wallet_staffmovement")
        cl = r.context["cl"]
        assert [m.pk for m in cl.result_list] == [mine.pk], term
        plan = search_plan_of(cl)
        assert not reads_whole(plan, "wallet_staffmovement"), plan
        assert index is None or index in plan, plan


def test_rollback_tombstones_by_transaction_or_player(admin_client, db):
    from wallet.models import RollbackTombstone

    def tombstone(provider, tx, player):
        return RollbackTombstone.objects.create(
            provider_code=provider, transaction_id=tx, rollback_transaction_id=f"rb-{tx}", player_id_text=player
        )

    mine = tombstone("acme", "d-404", "p_demo_1")
    tombstone("other", "d-405", "p_demo_2")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    for term in ("d-404", "p_demo_1"):
        r = admin_client.get(reverse("admin:wallet_rollbacktombstone_changelist"), {"q": term})
        assert r.status_code == 200
        cl = r.context["cl"]
        assert [t.pk for t in cl.result_list] == [mine.pk], term
        plan = search_plan_of(cl)
        assert not reads_whole(plan, "wallet_rollbacktombstone"), plan


@pytest.mark.parametrize("page", ["wallet_withdrawal", "wallet_staffmovement", "wallet_monitoringalert"])
def test_a_queue_s_all_view_is_read_newest_first_along_the_key(admin_client, sandbox, page):
    """Only a queue's open rows have an index with their time: "All" ordered by it sorted
    every row ever asked for, on each page."""
    from django.utils import timezone

    demo = demo_wallet()
    for n in (1, 2):
        withdraw(demo, 100 * n, f"po-all-{n}")
        alert(demo, amount=100 * n)
        StaffMovement.objects.create(
            wallet=demo,
            kind="deposit",
            amount=50_000,
            reason="t",
            requested_by="staff:ana",
            requested_at=timezone.now(),
        )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    r = admin_client.get(reverse(f"admin:{page}_changelist"), {"status": "all"})
    assert r.status_code == 200
    cl = r.context["cl"]
    listed = [row.pk for row in cl.result_list]
    assert len(listed) >= 2 and listed == sorted(listed, reverse=True)
    assert not sorted_whole(cl.result_list.explain())


class TestChangePagesShowMoneyInTheCurrency:
    """Minor units are cents only at exponent 2: 1234567 is 1234.567 KWD, 1234567 JPY."""

    def readonly(self, content: str, value: str) -> bool:
        return f'<div class="readonly">{value}</div>' in content

    def test_a_wallet_s_balance(self, admin_client, db):
        wallet = funded_wallet(currency="KWD", amount=1_234_567)
        page = admin_client.get(reverse("admin:wallet_wallet_change", args=[wallet.pk])).content.decode()
        assert self.readonly(page, "1234.567 KWD") and not self.readonly(page, "1234567")

    def test_a_withdrawal_s_amount(self, admin_client, db):
        withdrawal = withdraw(funded_wallet(currency="JPY", amount=100_000), 12_345, "po-jpy")
        page = admin_client.get(reverse("admin:wallet_withdrawal_change", args=[withdrawal.pk])).content.decode()
        assert self.readonly(page, "12345 JPY")

    def test_a_staff_movement_s_amount(self, admin_client, db):
        wallet = funded_wallet(currency="KWD", amount=0)
        movement = StaffMovement.objects.create(
            wallet=wallet,
            kind=StaffMovement.Kind.ADJUST,
            amount=-1_500,
            reason="correction",
            requested_by="staff:ana",
            requested_at=wallet.created_at,
        )
        page = admin_client.get(reverse("admin:wallet_staffmovement_change", args=[movement.pk])).content.decode()
        assert self.readonly(page, "-1.500 KWD") and not self.readonly(page, "-1500")

    def test_a_staff_day_total(self, admin_client, db):
        funded_wallet(currency="KWD", amount=0)
        total = StaffDayTotal.objects.create(staff="staff:ana", currency_id="KWD", day="2026-12-01", moved=2_000)
        page = admin_client.get(reverse("admin:wallet_staffdaytotal_change", args=[total.pk])).content.decode()
        assert self.readonly(page, "2.000 KWD")

    def test_a_monitoring_alert_s_amounts_with_what_each_is(self, admin_client, db):
        wallet = funded_wallet(currency="KWD", amount=1_234_567)
        low_play = alert(wallet, amount=1_000_000, total=1_234_567, wagered=12_345)
        deposits = alert(funded_wallet(currency="KWD", amount=2_000_500), amount=2_000_500, total=2_000_500)
        page = admin_client.get(reverse("admin:wallet_monitoringalert_change", args=[low_play.pk])).content.decode()
        for shown in ("1000.000 KWD", "1234.567 KWD", "12.345 KWD", "wagered under 50% of deposits"):
            assert self.readonly(page, shown), shown
        assert not self.readonly(page, "1234567")
        # Still explained as the model explains each figure.
        assert MonitoringAlert._meta.get_field("wagered").help_text in page
        page = admin_client.get(reverse("admin:wallet_monitoringalert_change", args=[deposits.pk])).content.decode()
        assert self.readonly(page, "over 2000.499 KWD")
