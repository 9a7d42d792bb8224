"""The Players and Player audit log lists of the back office, on tables of millions of rows:
their filters list values without reading the table, a page is counted once and from the
estimate, and a search finds a player's id by its index. The limit pages show money in each
currency's units."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, reverse_lazy

from casino_platform.tests.plans import reads_whole, search_plan_of
from players.models import Player, PlayerAuditLog
from players.services import player_set_deposit_limit, player_update

pytestmark = pytest.mark.django_db

PLAYERS = reverse_lazy("admin:players_player_changelist")
AUDIT_LOG = reverse_lazy("admin:players_playerauditlog_changelist")


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def get(admin_client, url, **query):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url, query)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


def listed(response, attribute: str = "player_id") -> list[str]:
    return [getattr(row, attribute) for row in response.context["cl"].result_list]


def filter_choices(response, title: str) -> list[str]:
    (spec,) = [spec for spec in response.context["cl"].filter_specs if spec.title == title]
    return [value for value, _ in spec.lookup_choices]


class TestLists:
    @pytest.mark.parametrize(("url", "table"), [(PLAYERS, "players_player"), (AUDIT_LOG, "players_playerauditlog")])
    def test_a_page_reads_no_distinct_values_and_counts_once_from_the_estimate(self, admin_client, sandbox, url, table):
        _, sql = get(admin_client, url)
        assert not any("DISTINCT" in s for s in sql), [s for s in sql if "DISTINCT" in s]
        assert any("reltuples" in s for s in sql)  # EstimatedCountPaginator's estimate, first
        # The paginator's count (exact below its threshold), no second "of N in all".
        assert sum(s.startswith("SELECT COUNT(*)") and f'FROM "{table}"' in s for s in sql) == 1

    def test_the_country_filter_lists_the_players_countries_and_filters_by_one(self, admin_client, sandbox):
        Player.objects.filter(player_id="p_low_balance").update(country="")
        response, _ = get(admin_client, PLAYERS)
        assert filter_choices(response, "country") == ["", "MT", "US"]  # "" listed as "(none)"
        response, _ = get(admin_client, PLAYERS, country="US")
        assert listed(response) == ["p_demo_2"]
        response, _ = get(admin_client, PLAYERS, country="")
        assert listed(response) == ["p_low_balance"]

    def test_the_field_filter_lists_the_audited_fields_and_filters_by_one(self, admin_client, sandbox):
        player_update(player=Player.objects.get(player_id="p_demo_2"), changed_by="staff:ana", reason="t", country="MT")
        response, _ = get(admin_client, AUDIT_LOG)
        assert filter_choices(response, "field") == sorted(set(PlayerAuditLog.objects.values_list("field", flat=True)))
        response, _ = get(admin_client, AUDIT_LOG, field="country")
        assert listed(response, "new_value") == ["MT"]


class TestPlayerSearch:
    def test_an_id_is_found_by_its_index_without_reading_the_names(self, admin_client, sandbox):
        response, sql = get(admin_client, PLAYERS, q="p_demo_1")
        assert listed(response) == ["p_demo_1"]
        assert not any('"display_name"' in s and "LIKE" in s for s in sql)

    def test_other_text_is_looked_for_in_the_names(self, admin_client, sandbox):
        response, _ = get(admin_client, PLAYERS, q="demo")
        assert listed(response) == ["p_demo_1", "p_demo_2"]  # Demo One, Demo Two

    def test_an_id_the_filters_leave_out_is_not_looked_for_in_the_names(self, admin_client, sandbox):
        Player.objects.filter(player_id="p_demo_2").update(display_name="fan of p_blocked_rg", status="blocked")
        response, sql = get(admin_client, PLAYERS, q="p_blocked_rg", status__exact="blocked")  # it is active
        assert listed(response) == []
        assert not any('"display_name"' in s and "LIKE" in s for s in sql)

    def test_the_search_box_says_how_it_searches(self, admin_client, sandbox):
        response, _ = get(admin_client, PLAYERS)
        assert "A player&#x27;s id, exactly as written; any other text is looked for in the display names" in (
            response.content.decode()
        )


class TestAuditLogSearch:
    @pytest.fixture
    def changed(self, sandbox):
        player_update(player=Player.objects.get(player_id="p_demo_2"), changed_by="staff:ana", reason="t", country="MT")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # the test's log is tiny

    @pytest.mark.parametrize(("term", "index"), [("p_demo_2", None), ("staff:ana", "player_audit_by_idx")])
    def test_by_player_or_by_who_each_by_its_index(self, admin_client, changed, term, index):
        response, sql = get(admin_client, AUDIT_LOG, q=term)
        expected = PlayerAuditLog.objects.filter(player__player_id=term) | PlayerAuditLog.objects.filter(
            changed_by=term
        )
        assert sorted(listed(response, "pk")) == sorted(expected.values_list("pk", flat=True))
        plan = search_plan_of(response.context["cl"])
        assert not reads_whole(plan, "players_playerauditlog"), plan
        assert index is None or index in plan, plan
        assert not any(
            'FROM "players_playerauditlog"' in s and '"players_player"."player_id" = ' in s for s in sql
        )  # the player's key was found first


class TestLimitPagesShowMoneyInTheCurrency:
    """Minor units are cents only at exponent 2: 1234567 is 1234.567 KWD and 5000 JPY is 5000 yen."""

    def test_the_limits_in_force_and_waiting_and_what_the_form_takes(self, admin_client, sandbox, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 3600
        player = Player.objects.get(player_id="p_demo_1")
        for currency, period, amount in (("KWD", "day", 1_234_567), ("KWD", "day", 2_000_000), ("JPY", "week", 5_000)):
            player_set_deposit_limit(
                player=player, currency=currency, period=period, amount=amount, changed_by="t", reason="asked"
            )
        page = admin_client.get(reverse("admin:players_player_deposit_limit", args=[player.pk])).content.decode()
        assert "<td>1234.567 KWD</td>" in page and "<td>5000 JPY</td>" in page
        assert "<td>2000.000 KWD from " in page  # the looser limit, waiting out its cooling-off
        assert "1234567" not in page and "(minor units)" not in page
        # The amount is typed as the chosen currency is written, as on "Move money…".
        assert "In the chosen currency, as it is written: 250.00 for EUR 250, 250 for JPY 250." in page
