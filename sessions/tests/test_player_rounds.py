"""GET /api/v1/players/{player_id}/rounds: the player's game history, a round a line, newest
first, with what was wagered and won in it, in pages that new rounds do not move."""

import io
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from provider.models import Game
from provider.tests.factories import GameFactory
from sessions.models import Round
from sessions.selectors import player_rounds
from wallet.services import wallet_credit, wallet_debit, wallet_rollback
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet
from wallet.tests.test_cashier import TOKEN, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def rounds(client, player_id, **query):
    r = call(client, "GET", f"{player_id}/rounds?{urlencode(query)}")
    assert r.status_code == 200, r.content
    return r.json()


def ids(page) -> list[str]:
    return [line["round_id"] for line in page["results"]]


class TestHistory:
    @pytest.fixture
    def played(self, sandbox, provider, wallet):
        """Three rounds: won and closed; its one bet rolled back; open, in a game gone from
        the catalogue."""
        wallet_debit(provider=provider, request=debit_request(wallet, amount=700, round_id="won"))
        wallet_debit(provider=provider, request=debit_request(wallet, amount=200, round_id="won"))
        wallet_credit(provider=provider, request=credit_request(wallet, amount=1_250, round_id="won"))
        wallet_debit(provider=provider, request=debit_request(wallet, amount=300, round_id="void", tx="bet-void"))
        wallet_rollback(provider=provider, request=rollback_request(wallet, reference="bet-void", round_id="void"))
        GameFactory(provider=provider, game_id="gone:slot")
        wallet_debit(provider=provider, request=debit_request(wallet, amount=50, round_id="open", game_id="gone:slot"))
        Game.objects.filter(game_id="gone:slot").delete()
        return wallet

    def test_newest_first_with_what_each_wagered_and_won(self, client, played):
        page = rounds(client, played.player.player_id)
        assert ids(page) == ["open", "void", "won"]
        won = page["results"][2]
        round_row = Round.objects.get(round_id="won")
        assert won == {
            "provider": round_row.provider.code,
            "round_id": "won",
            "game_id": "sandbox:dice",
            "game_name": "Sandbox Dice",
            "currency": "EUR",
            "status": "closed",
            "opened_at": round_row.opened_at.isoformat().replace("+00:00", "Z"),
            "closed_at": round_row.closed_at.isoformat().replace("+00:00", "Z"),
            "wagered": 900,
            "won": 1_250,
            "net": 350,
            "debits": 2,
            "credits": 1,
            "rollbacks": 0,
        }
        void, open_ = page["results"][1], page["results"][0]
        assert (void["wagered"], void["won"], void["net"], void["debits"], void["rollbacks"]) == (0, 0, 0, 1, 1)
        assert (open_["status"], open_["closed_at"], open_["game_id"], open_["game_name"]) == (
            "open",
            None,
            "gone:slot",
            None,
        )
        assert (open_["wagered"], open_["net"]) == (50, -50)
        assert page["next"] is None and page["previous"] is None

    def test_only_this_player_s_rounds_and_the_filters(self, client, played, provider):
        other = funded_wallet(amount=1_000)
        wallet_debit(provider=provider, request=debit_request(other, amount=10, round_id="someone-else"))
        player_id = played.player.player_id
        assert ids(rounds(client, player_id)) == ["open", "void", "won"]
        assert ids(rounds(client, other.player.player_id)) == ["someone-else"]
        assert ids(rounds(client, player_id, status="open")) == ["open", "void"]  # a rollback closes nothing
        assert ids(rounds(client, player_id, status="closed")) == ["won"]
        assert ids(rounds(client, player_id, currency="EUR")) == ["open", "void", "won"]
        assert ids(rounds(client, player_id, currency="USD")) == []
        void = Round.objects.get(round_id="void").opened_at
        assert ids(rounds(client, player_id, since=void.isoformat())) == ["open", "void"]
        assert ids(rounds(client, player_id, until=void.isoformat())) == ["won"]

    def test_pages_are_not_moved_by_a_round_opened_meanwhile(self, client, played, provider):
        player_id = played.player.player_id
        first = rounds(client, player_id, limit=2)
        assert ids(first) == ["open", "void"] and first["next"]
        wallet_debit(provider=provider, request=debit_request(played, amount=10, round_id="newer"))
        second = client.get(first["next"], headers=TOKEN)
        assert second.status_code == 200, second.content
        assert ids(second.json()) == ["won"] and second.json()["next"] is None
        assert ids(rounds(client, player_id, limit=2)) == ["newer", "open"]

    def test_rounds_opened_at_the_same_moment_page_one_by_one_both_ways(self, client, played, provider):
        for round_id in ("tie-1", "tie-2", "tie-3"):
            wallet_debit(provider=provider, request=debit_request(played, amount=1, round_id=round_id))
        Round.objects.filter(player=played.player).update(opened_at=timezone.now())  # every round: one time
        player_id = played.player.player_id
        newest_first = ["tie-3", "tie-2", "tie-1", "open", "void", "won"]  # by id, newest first
        seen, page = [], rounds(client, player_id, limit=1)
        while True:
            seen += ids(page)
            if not page["next"]:
                break
            page = client.get(page["next"], headers=TOKEN).json()
        assert seen == newest_first
        back = []
        while page["previous"]:
            page = client.get(page["previous"], headers=TOKEN).json()
            back += ids(page)
        assert back == newest_first[-2::-1]

    def test_a_page_costs_the_same_few_queries_however_many_rounds(
        self, client, played, provider, django_assert_num_queries
    ):
        rounds(client, played.player.player_id)  # the key's first use this minute is stamped: one write more
        with django_assert_num_queries(3):  # the token, the player, the page with its games' names
            assert len(rounds(client, played.player.player_id)["results"]) == 3
        for n in range(20):
            wallet_debit(provider=provider, request=debit_request(played, amount=1, round_id=f"more-{n}"))
        with django_assert_num_queries(3):
            assert len(rounds(client, played.player.player_id)["results"]) == 23

    def test_a_round_with_its_movements_as_they_moved_the_wallet(self, client, played):
        player_id = played.player.player_id
        listed = {line["round_id"]: line for line in rounds(client, player_id)["results"]}
        provider = listed["won"]["provider"]
        r = call(client, "GET", f"{player_id}/rounds/{provider}/won")
        assert r.status_code == 200, r.content
        body = r.json()
        assert {k: v for k, v in body.items() if k != "movements"} == listed["won"]
        moves = [(m["kind"], m["reason"], m["amount"]) for m in body["movements"]]
        assert moves == [("debit", "bet", -700), ("debit", "bet", -200), ("credit", "win", 1_250)]
        assert sum(m["amount"] for m in body["movements"]) == body["net"]
        assert all(m["transaction_id"] and m["platform_transaction_id"] for m in body["movements"])
        void = call(client, "GET", f"{player_id}/rounds/{provider}/void").json()
        assert [(m["kind"], m["amount"]) for m in void["movements"]] == [("debit", -300), ("rollback", 300)]
        assert sum(m["amount"] for m in void["movements"]) == void["net"] == 0

    def test_a_round_id_with_a_slash(self, client, played, provider):
        wallet_debit(provider=provider, request=debit_request(played, amount=10, round_id="table-7/hand-12"))
        r = call(client, "GET", f"{played.player.player_id}/rounds/{provider.code}/table-7/hand-12")
        assert r.status_code == 200, r.content
        assert r.json()["round_id"] == "table-7/hand-12" and r.json()["wagered"] == 10

    def test_another_player_s_or_no_such_round_is_round_not_found(self, client, played, provider):
        other = funded_wallet(amount=1_000)
        wallet_debit(provider=provider, request=debit_request(other, amount=10, round_id="theirs"))
        player_id = played.player.player_id
        for path in (
            f"rounds/{provider.code}/theirs",
            f"rounds/{provider.code}/nothing",
            "rounds/nobody/won",
            f"rounds/{provider.code}/w%00n",
            f"rounds/{provider.code}/{'r' * 129}",
            "rounds/x%00y/won",
        ):
            r = call(client, "GET", f"{player_id}/{path}")
            assert (r.status_code, r.json()["code"]) == (404, "ROUND_NOT_FOUND"), r.content
        assert call(client, "GET", f"{other.player.player_id}/rounds/{provider.code}/theirs").status_code == 200
        r = call(client, "GET", f"p_nobody/rounds/{provider.code}/won")
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")
        assert call(client, "GET", f"{player_id}/rounds/{provider.code}/won", headers={}).status_code == 401

    def test_a_player_without_rounds_has_an_empty_history(self, client, sandbox):
        assert rounds(client, "p_demo_2") == {"next": None, "previous": None, "results": []}

    @pytest.mark.parametrize(
        "query, field",
        [
            ("currency=EU", "currency"),
            ("currency=XXX", "currency"),
            ("status=pending", "status"),
            ("since=yesterday", "since"),
            ("until=2026-02-30T00:00:00Z", "until"),
            ("since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("cursor=cD1ub3QtYS10aW1l", "cursor"),  # "p=not-a-time"
        ],
    )
    def test_a_bad_query_is_a_validation_error(self, client, sandbox, query, field):
        r = call(client, "GET", f"p_demo_1/rounds?{query}")
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert field in r.json()["details"]

    def test_an_unknown_player_and_no_token(self, client, sandbox):
        r = call(client, "GET", "p_nobody/rounds")
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")
        assert call(client, "GET", "p_demo_1/rounds", headers={}).status_code == 401

    def test_in_the_schema(self, client):
        schema = client.get("/api/schema/?format=json").json()
        operation = schema["paths"]["/api/v1/players/{player_id}/rounds"]["get"]
        assert operation["operationId"] == "player_rounds"
        assert {p["name"] for p in operation["parameters"]} >= {"currency", "status", "since", "until", "limit"}
        detail = schema["paths"]["/api/v1/players/{player_id}/rounds/{provider}/{round_id}"]["get"]
        assert detail["operationId"] == "player_round" and "404" in detail["responses"]

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
    def test_a_page_is_read_by_the_player_s_index(self, played):
        with connection.cursor() as cursor:
            # Priced out as on a table of millions: on the test's tiny one, grown by the rows
            # earlier tests rolled back, an index scan and a sort can come cheaper.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
        plan = player_rounds(player=played.player, until=timezone.now()).explain()
        assert "round_player_history" in plan and "Sort" not in plan


def test_the_player_s_page_links_their_rounds(admin_client, sandbox, provider):
    from django.urls import reverse

    from players.models import Player

    demo = Player.objects.get(player_id="p_demo_1")
    wallet = demo.wallets.get(currency_id="EUR")
    wallet_debit(provider=provider, request=debit_request(wallet, amount=10, round_id="demo-round"))
    other = funded_wallet(amount=1_000)
    wallet_debit(provider=provider, request=debit_request(other, amount=10, round_id="other-round"))
    page = admin_client.get(reverse("admin:players_player_change", args=[demo.pk])).content.decode()
    query = f"?player__id__exact={demo.pk}&amp;currency__code__exact=EUR"
    link = reverse("admin:game_sessions_round_changelist") + query
    assert link in page
    listed = admin_client.get(link.replace("&amp;", "&"))
    assert listed.status_code == 200
    assert [r.round_id for r in listed.context["cl"].result_list] == ["demo-round"]
    # Another player's round named like this player is not theirs (a search would list it).
    wallet_debit(provider=provider, request=debit_request(other, amount=10, round_id="p_demo_1"))
    listed = admin_client.get(link.replace("&amp;", "&"))
    assert [r.round_id for r in listed.context["cl"].result_list] == ["demo-round"]
