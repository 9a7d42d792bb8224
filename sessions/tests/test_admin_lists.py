"""The Rounds and Game sessions lists of the back office, on tables of millions of rows: a page
is read along an index, never the whole table sorted for it, and a search by a player's id or
a session number finds the player's key first."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse_lazy

from casino_platform import clock
from casino_platform.tests.plans import plan_of, reads_whole, search_plan_of, sorted_whole
from players.models import Player
from provider.models import Provider
from sessions.models import GameSession, Round
from wallet.models import Wallet
from wallet.services import wallet_debit
from wallet.tests.api_client import launch
from wallet.tests.conftest import debit_request

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans"),
]

ROUNDS = reverse_lazy("admin:game_sessions_round_changelist")
SESSIONS = reverse_lazy("admin:game_sessions_gamesession_changelist")


@pytest.fixture
def played(db):
    """Rounds and sessions of two players. Sequential scans and sorts priced out, as on a
    table of millions: the test's tables are tiny, read whole and sorted whatever their
    indexes; priced out, a plan keeps one only where no index serves the page."""
    call_command("seed_sandbox", stdout=io.StringIO())
    provider = Provider.objects.get(code="sandbox")
    for player_id, rounds in (("p_demo_1", 3), ("p_kyc_pending", 2)):
        wallet = Wallet.objects.select_related("player").get(player__player_id=player_id, currency_id="EUR")
        for n in range(rounds):
            wallet_debit(provider=provider, request=debit_request(wallet, amount=10, round_id=f"{player_id}-{n}"))
        for _ in range(rounds):
            launch(player_id)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")


def page(admin_client, url, **query):
    response = admin_client.get(url, query)
    assert response.status_code == 200
    return response.context["cl"]


class TestRounds:
    @pytest.mark.parametrize("query", [{}, {"status__exact": "open"}, {"currency__code__exact": "EUR"}])
    def test_a_page_is_read_newest_first_along_the_key_not_sorted(self, admin_client, played, query):
        cl = page(admin_client, ROUNDS, **query)
        listed = [r.pk for r in cl.result_list]
        assert len(listed) == 5 and listed == sorted(listed, reverse=True)
        plan = plan_of(cl)
        assert not sorted_whole(plan), plan

    def test_rounds_left_open_for_hours_are_found_along_the_key_or_the_player_s_history(self, admin_client, played):
        """A provider's round whose settlement never came: open, and opened longer ago than
        the filter's hours. Read as the status filter reads, newest first along the key, or
        along round_player_history for one player: no index of open rounds is written by
        the bets for it."""
        now = clock.now()
        Round.objects.filter(round_id__in=["p_demo_1-0", "p_kyc_pending-0"]).update(opened_at=now - timedelta(hours=30))
        Round.objects.filter(round_id="p_demo_1-1").update(opened_at=now - timedelta(hours=2))
        Round.objects.filter(round_id="p_demo_1-0").update(status=Round.Status.CLOSED, closed_at=now)
        over = {
            hours: [r.round_id for r in page(admin_client, ROUNDS, open_for_over=hours).result_list]
            for hours in (1, 24)
        }
        assert over == {1: ["p_kyc_pending-0", "p_demo_1-1"], 24: ["p_kyc_pending-0"]}  # newest written first
        plan = plan_of(page(admin_client, ROUNDS, open_for_over=1))
        assert not sorted_whole(plan), plan
        demo = Player.objects.get(player_id="p_demo_1")
        cl = page(admin_client, ROUNDS, open_for_over=1, player__id__exact=demo.pk)
        assert [r.round_id for r in cl.result_list] == ["p_demo_1-1"]
        plan = plan_of(cl)
        assert "round_player_history" in plan and not sorted_whole(plan), plan

    def test_one_player_s_rounds_come_along_their_history_index(self, admin_client, played):
        demo = Player.objects.get(player_id="p_demo_1")
        cl = page(admin_client, ROUNDS, player__id__exact=demo.pk, currency__code__exact="EUR")
        assert [r.round_id for r in cl.result_list] == ["p_demo_1-2", "p_demo_1-1", "p_demo_1-0"]
        plan = plan_of(cl)
        assert "round_player_history" in plan and not sorted_whole(plan), plan


class TestGameSessions:
    @pytest.mark.parametrize("query", [{}, {"state": "open"}, {"currency__code__exact": "EUR"}])
    def test_a_page_is_read_newest_first_along_the_key_not_sorted(self, admin_client, played, query):
        cl = page(admin_client, SESSIONS, **query)
        listed = [s.pk for s in cl.result_list]
        assert len(listed) == 5 and listed == sorted(listed, reverse=True)
        plan = plan_of(cl)
        assert not sorted_whole(plan), plan

    def test_one_player_s_sessions_come_along_their_index(self, admin_client, played):
        demo = Player.objects.get(player_id="p_demo_1")
        cl = page(admin_client, SESSIONS, player__id__exact=demo.pk)
        expected = list(GameSession.objects.filter(player=demo).order_by("-created_at", "-id").values_list("pk"))
        assert [(s.pk,) for s in cl.result_list] == expected
        plan = plan_of(cl)
        assert "session_player_idx" in plan and not sorted_whole(plan), plan

    def test_the_whole_table_is_not_counted_for_a_page(self, admin_client, played):
        with CaptureQueriesContext(connection) as queries:
            page(admin_client, SESSIONS)
        sql = [q["sql"] for q in queries.captured_queries]
        assert any("reltuples" in s for s in sql)  # EstimatedCountPaginator's estimate, first
        # One count (the paginator's, exact below its threshold), no second "of N in all".
        assert sum("COUNT(*)" in s and '"game_sessions_gamesession"' in s for s in sql) == 1

    def test_a_search_by_player_or_session_number_reads_their_keys(self, admin_client, played):
        demo = Player.objects.get(player_id="p_demo_1")
        one = GameSession.objects.filter(player__player_id="p_kyc_pending").earliest("id")
        for term, expected in (("p_demo_1", 3), (str(one.pk), 1), ("no such player", 0)):
            cl = page(admin_client, SESSIONS, q=term)
            assert cl.result_count == expected, term
            plan = search_plan_of(cl)
            assert not reads_whole(plan, "game_sessions_gamesession"), plan
        cl = page(admin_client, SESSIONS, q=str(one.pk))
        assert [s.pk for s in cl.result_list] == [one.pk]
        assert {s.player_id for s in page(admin_client, SESSIONS, q="p_demo_1").result_list} == {demo.pk}
