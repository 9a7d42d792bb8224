"""The game catalogue for the casino's lobby (GET /api/v1/games) and the countries a game or
its provider is not offered in: neither listed nor launched for players of them."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db.models import JSONField, Value
from django.urls import reverse

from ledger.models import JournalTransaction, SettingChange
from ledger.reconciliation import ledger_reconcile
from players.models import Player
from provider.models import Game, Provider
from sessions.models import GameSession
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient, debit_payload, launch

pytestmark = pytest.mark.django_db

TOKEN = {"Authorization": "Token sandbox-operator-token"}
SANDBOX_GAMES = ["sandbox:dice", "sandbox:holdem", "sandbox:slot"]
JSON = {"content_type": "application/json", "headers": TOKEN}


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def catalogue(client, **query):
    return client.get("/api/v1/games", query, headers=TOKEN)


def listed(client, **query) -> list[str]:
    r = catalogue(client, **query)
    assert r.status_code == 200, r.content
    return [game["game_id"] for game in r.json()["games"]]


def start(client, player_id: str, game_id: str = "sandbox:dice", currency: str = "EUR"):
    return client.post(
        "/api/v1/sessions",
        {"player_id": player_id, "game_id": game_id, "currency": currency},
        content_type="application/json",
        headers=TOKEN,
    )


def eur_balance(player_id: str) -> int:
    return Wallet.objects.get(player__player_id=player_id, currency_id="EUR").balance


def restrict(model, key: str, *countries: str) -> None:
    field = "game_id" if model is Game else "code"
    model.objects.filter(**{field: key}).update(restricted_countries=list(countries))


class TestCatalogue:
    def test_every_enabled_game_with_where_it_is_not_offered(self, client, sandbox):
        restrict(Game, "sandbox:slot", "GB")
        restrict(Provider, "sandbox", "US")
        r = catalogue(client)
        assert r.status_code == 200
        body = r.json()
        assert body["country"] is None
        assert body["games"][-1] == {
            "game_id": "sandbox:slot",
            "name": "Sandbox Slot",
            "game_type": "slot",
            "provider": "sandbox",
            "restricted_countries": ["GB", "US"],
        }
        assert [game["game_id"] for game in body["games"]] == SANDBOX_GAMES

    def test_a_country_s_players_see_what_they_are_offered(self, client, sandbox):
        restrict(Game, "sandbox:slot", "GB", "US")
        assert listed(client, country="GB") == ["sandbox:dice", "sandbox:holdem"]
        assert listed(client, country="MT") == SANDBOX_GAMES
        assert listed(client, player_id="p_demo_2") == ["sandbox:dice", "sandbox:holdem"]  # in the US
        assert catalogue(client, player_id="p_demo_2").json()["country"] == "US"
        restrict(Provider, "sandbox", "US")
        assert listed(client, player_id="p_demo_2") == []
        assert listed(client, player_id="p_demo_1") == SANDBOX_GAMES  # in Malta

    def test_a_player_whose_country_is_not_recorded_sees_only_games_restricted_nowhere(self, client, sandbox):
        Player.objects.filter(player_id="p_demo_1").update(country="")
        assert listed(client, player_id="p_demo_1") == SANDBOX_GAMES
        restrict(Game, "sandbox:holdem", "FR")
        assert listed(client, player_id="p_demo_1") == ["sandbox:dice", "sandbox:slot"]
        assert catalogue(client, player_id="p_demo_1").json()["country"] == ""

    def test_disabled_games_and_providers_are_not_listed(self, client, sandbox):
        Game.objects.filter(game_id="sandbox:dice").update(is_enabled=False)
        assert listed(client) == ["sandbox:holdem", "sandbox:slot"]
        Provider.objects.filter(code="sandbox").update(is_enabled=False)
        assert listed(client) == []

    @pytest.mark.parametrize(
        "query, field",
        [
            ({"country": "gb"}, "country"),
            ({"country": "GBR"}, "country"),
            ({"country": "MT", "player_id": "p_demo_1"}, "country"),
            ({"player_id": "x" * 65}, "player_id"),
        ],
    )
    def test_bad_queries_are_validation_errors(self, client, sandbox, query, field):
        r = catalogue(client, **query)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
        assert field in r.json()["details"]

    def test_an_unknown_player_is_not_found_and_the_token_is_required(self, client, sandbox):
        r = catalogue(client, player_id="p_nobody")
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")
        assert client.get("/api/v1/games").status_code in (401, 403)

    def test_in_the_schema(self, client, sandbox):
        schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
        operation = schema["paths"]["/api/v1/games"]["get"]
        assert operation["operationId"] == "game_catalogue"
        assert {p["name"] for p in operation["parameters"]} >= {"player_id", "country"}


class TestLaunch:
    @pytest.mark.parametrize(
        "locale, status, in_url",
        [
            ("pt-BR", 201, "locale=pt-BR"),
            ("en_US", 201, "locale=en_US"),  # the POSIX form clients send
            ("", 201, "locale=&"),
            ("../x", 400, None),
            ("en?x=1", 400, None),
        ],
    )
    def test_the_locale_is_a_language_tag_or_empty(self, client, sandbox, locale, status, in_url):
        body = {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR", "locale": locale}
        r = client.post("/api/v1/sessions", body, **JSON)
        assert r.status_code == status, r.content
        if in_url:
            assert in_url in r.json()["launch_url"] + "&"
        else:
            assert r.json()["code"] == "VALIDATION_ERROR" and "locale" in r.json()["details"]
            assert not GameSession.objects.exists()

    @pytest.mark.parametrize("model, key", [(Game, "sandbox:dice"), (Provider, "sandbox")])
    def test_a_game_restricted_in_the_player_s_country_is_not_launched(self, client, sandbox, model, key):
        restrict(model, key, "US", "MT")
        r = start(client, "p_demo_1")
        assert (r.status_code, r.json()["code"]) == (404, "GAME_NOT_FOUND")
        assert r.json()["message"] == "Game sandbox:dice is not offered in MT."
        assert not GameSession.objects.filter(player__player_id="p_demo_1").exists()
        if model is Game:
            assert start(client, "p_demo_1", "sandbox:slot").status_code == 201

    def test_nor_to_a_player_whose_country_is_not_recorded(self, client, sandbox):
        Player.objects.filter(player_id="p_demo_1").update(country="")
        assert start(client, "p_demo_1").status_code == 201  # restricted nowhere
        restrict(Game, "sandbox:dice", "GB")
        r = start(client, "p_demo_1")
        assert (r.status_code, r.json()["code"]) == (404, "GAME_NOT_FOUND")
        assert r.json()["message"] == "Game sandbox:dice is not offered to a player whose country is not recorded."

    def test_a_country_recorded_in_small_letters_is_still_that_country(self, client, sandbox):
        """Written around the checks (the operator API and the admin take capitals only)."""
        Player.objects.filter(player_id="p_demo_1").update(country="mt")
        restrict(Game, "sandbox:dice", "MT")
        assert start(client, "p_demo_1").status_code == 404
        assert listed(client, player_id="p_demo_1") == ["sandbox:holdem", "sandbox:slot"]

    @pytest.mark.parametrize("malformed", ["GB", {"GB": True}, None, [1]])
    def test_a_restriction_that_is_not_a_list_of_codes_offers_the_game_nowhere(self, client, sandbox, malformed):
        """Written around the admin's checks: the game is neither listed nor launched, and
        nothing answers 500."""
        # JSON's null, which the column (NOT NULL) takes as a value.
        value = Value(None, JSONField()) if malformed is None else malformed
        Game.objects.filter(game_id="sandbox:dice").update(restricted_countries=value)
        for query in ({}, {"country": "MT"}, {"player_id": "p_demo_1"}):
            assert listed(client, **query) == ["sandbox:holdem", "sandbox:slot"]
        r = start(client, "p_demo_1")
        assert (r.status_code, r.json()["code"]) == (404, "GAME_NOT_FOUND")

    def test_a_disabled_provider_s_games_are_not_launched(self, client, sandbox):
        Provider.objects.filter(code="sandbox").update(is_enabled=False)
        r = start(client, "p_demo_1")
        assert (r.status_code, r.json()["code"]) == (404, "GAME_NOT_FOUND")
        assert not GameSession.objects.exists()

    def test_a_disabled_currency_launches_nothing_and_its_open_sessions_play_on(self, client, sandbox):
        """Money comes in only in an enabled currency; a session launched before it was
        disabled still takes bets (wins owed are always paid)."""
        from ledger.models import Currency

        token = launch("p_demo_1")
        sessions = GameSession.objects.count()
        Currency.objects.filter(code="EUR").update(is_enabled=False)
        r = start(client, "p_demo_1")
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
        assert "'EUR' is not enabled" in r.json()["message"]
        assert GameSession.objects.count() == sessions
        r = ProviderClient(client).post("debit", debit_payload(token, "d-eur-off"))
        assert (r.status, r.body["balance"], eur_balance("p_demo_1")) == (200, 99_900, 99_900), r.body
        assert JournalTransaction.objects.filter(provider_transaction_id="d-eur-off").count() == 1

    def test_a_launch_url_that_cannot_be_made_leaves_no_session(self, client, sandbox):
        # Written around the admin's validation (an older row).
        sessions = GameSession.objects.count()
        Provider.objects.filter(code="sandbox").update(launch_url_template="https://games.example/{lang}")
        client.raise_request_exception = False
        r = start(client, "p_demo_1")
        assert (r.status_code, r.json()["code"]) == (500, "INTERNAL_ERROR")
        assert GameSession.objects.count() == sessions

    def test_the_debit_does_not_read_the_lists(self, client, sandbox):
        """A restriction written around the admin (which closes the sessions it excludes,
        TestRestrictionOfOpenSessions) leaves open sessions playing: the session stands."""
        token = launch("p_demo_1")
        restrict(Game, "sandbox:dice", "MT")
        r = ProviderClient(client).post("debit", debit_payload(token, "d-after-restriction"))
        assert (r.status, r.body["balance"], eur_balance("p_demo_1")) == (200, 99_900, 99_900), r.body
        assert JournalTransaction.objects.filter(provider_transaction_id="d-after-restriction").count() == 1
        assert ledger_reconcile().ok


def game_form(game) -> dict[str, str]:
    """A game's admin page fields but its countries, as the page shows them."""
    return {
        "game_id": game.game_id,
        "provider": str(game.provider_id),
        "name": game.name,
        "game_type": game.game_type,
        "is_enabled": "on",
    }


class TestAdmin:
    def test_staff_type_the_countries_and_the_change_is_on_record(self, admin_client, sandbox):
        game = Game.objects.get(game_id="sandbox:slot")
        url = reverse("admin:provider_game_change", args=[game.pk])
        page = admin_client.get(url)
        assert page.status_code == 200 and b"restricted_countries" in page.content
        form = game_form(game)
        r = admin_client.post(url, {**form, "restricted_countries": "gb,US"})
        assert r.status_code == 200 and r.context["adminform"].form.errors["restricted_countries"]
        r = admin_client.post(url, {**form, "restricted_countries": "US,US"})
        assert r.status_code == 200 and r.context["adminform"].form.errors["restricted_countries"]
        assert Game.objects.get(pk=game.pk).restricted_countries == []

        r = admin_client.post(url, {**form, "restricted_countries": "GB, US"})
        assert r.status_code == 302
        assert Game.objects.get(pk=game.pk).restricted_countries == ["GB", "US"]
        change = SettingChange.objects.filter(setting="provider.game", object_key="sandbox:slot").latest("id")
        assert (change.field, change.old_value, change.new_value, change.changed_by) == (
            "restricted_countries",
            "[]",
            '["GB", "US"]',
            "admin",
        )
        listing = admin_client.get(reverse("admin:provider_game_changelist")).content.decode()
        assert "GB" in listing

    def test_a_game_s_id_and_provider_are_fixed_once_it_exists(self, admin_client, client, sandbox):
        """Moved to another provider, the game went on taking its old provider's bets on the
        sessions launched under it; renamed, it refused every bet of its open sessions. Both
        are shown, not posted: another provider's game, or a new id, is a new game."""
        token = launch("p_demo_1")
        acme = Provider.objects.create(code="acme", name="Acme")
        game = Game.objects.get(game_id="sandbox:dice")
        url = reverse("admin:provider_game_change", args=[game.pk])
        page = admin_client.get(url).content.decode()
        assert 'name="game_id"' not in page and 'name="provider"' not in page
        assert "sandbox:dice" in page
        moved = {**game_form(game), "game_id": "acme:dice", "provider": str(acme.pk), "name": "Dice"}
        r = admin_client.post(url, {**moved, "restricted_countries": ""})
        assert r.status_code == 302
        game.refresh_from_db()
        assert (game.game_id, game.provider.code, game.name) == ("sandbox:dice", "sandbox", "Dice")
        assert ProviderClient(client).post("debit", debit_payload(token, "d-not-moved")).status == 200
        # A new game still names both.
        add = reverse("admin:provider_game_add")
        r = admin_client.post(add, {**moved, "is_enabled": "on", "restricted_countries": ""})
        assert r.status_code == 302, r.context["adminform"].form.errors
        assert Game.objects.get(game_id="acme:dice").provider_id == acme.pk


class TestAdminSaveOfAListChangedMeanwhile:
    """The page sends back the list it showed; its save applies what staff changed on it to
    the list as stored, so that a change made after the page was opened is kept."""

    @staticmethod
    def opened(admin_client, game):
        """The change page as a browser has it: its fields, with the hidden copy of the list
        it showed."""
        url = reverse("admin:provider_game_change", args=[game.pk])
        page = admin_client.get(url).content.decode()
        shown = re.search(r'name="initial-restricted_countries" value="([^"]*)"', page)
        assert shown is not None, "the page sends back the list it showed"
        return url, {**game_form(game), "initial-restricted_countries": shown.group(1)}

    def test_a_country_added_meanwhile_is_kept_beside_the_one_staff_add(self, admin_client, sandbox):
        restrict(Game, "sandbox:slot", "GB")
        game = Game.objects.get(game_id="sandbox:slot")
        url, form = self.opened(admin_client, game)
        assert form["initial-restricted_countries"] == "GB"
        call_command("restrict_countries", "--game", "sandbox:slot", "--add", "US", stdout=io.StringIO())
        r = admin_client.post(url, {**form, "restricted_countries": "GB,FR"}, follow=True)
        assert r.status_code == 200
        assert Game.objects.get(pk=game.pk).restricted_countries == ["GB", "US", "FR"]
        assert "both changes are kept: GB, US, FR" in r.content.decode()
        trail = SettingChange.objects.filter(object_key="sandbox:slot", field="restricted_countries").order_by("id")
        assert [(c.old_value, c.new_value, c.changed_by) for c in trail][-2:] == [
            ('["GB"]', '["GB", "US"]', "manage.py"),
            ('["GB", "US"]', '["GB", "US", "FR"]', "admin"),
        ]

    def test_a_country_removed_by_staff_stays_removed_and_one_added_meanwhile_stays(self, admin_client, sandbox):
        restrict(Game, "sandbox:slot", "GB", "US")
        game = Game.objects.get(game_id="sandbox:slot")
        url, form = self.opened(admin_client, game)
        call_command("restrict_countries", "--game", "sandbox:slot", "--add", "DE", stdout=io.StringIO())
        admin_client.post(url, {**form, "restricted_countries": "GB"})
        assert Game.objects.get(pk=game.pk).restricted_countries == ["GB", "DE"]

    def test_a_list_written_around_the_admin_is_repaired_by_a_save(self, admin_client, sandbox):
        """A stored code the service would refuse ("GBR"): the page's list replaces it."""
        Game.objects.filter(game_id="sandbox:slot").update(restricted_countries=["GB", "GBR"])
        game = Game.objects.get(game_id="sandbox:slot")
        url, form = self.opened(admin_client, game)
        r = admin_client.post(url, {**form, "restricted_countries": "GB"})
        assert r.status_code == 302
        assert Game.objects.get(pk=game.pk).restricted_countries == ["GB"]

    def test_a_save_that_changes_no_country_leaves_a_change_made_meanwhile(self, admin_client, sandbox):
        restrict(Game, "sandbox:slot", "GB")
        game = Game.objects.get(game_id="sandbox:slot")
        url, form = self.opened(admin_client, game)
        call_command("restrict_countries", "--game", "sandbox:slot", "--clear", stdout=io.StringIO())
        r = admin_client.post(url, {**form, "name": "Slot, renamed", "restricted_countries": "GB"})
        assert r.status_code == 302
        game.refresh_from_db()
        assert (game.name, game.restricted_countries) == ("Slot, renamed", [])


class TestRestrictionOfOpenSessions:
    """A restriction saved by staff closes the sessions it no longer allows, in the same
    transaction; the rest play on."""

    @pytest.fixture
    def playing(self, sandbox):
        Player.objects.filter(player_id="p_kyc_pending").update(country="US")
        Player.objects.filter(player_id="p_low_balance").update(country="")
        return {
            "us_dice": launch("p_kyc_pending"),
            "mt_dice": launch("p_demo_1"),  # MT
            "unknown_dice": launch("p_low_balance"),
            "us_slot": launch("p_kyc_pending", "sandbox:slot"),
        }

    @staticmethod
    def debit(client, token: str, tx: str, game_id: str = "sandbox:dice") -> int:
        return ProviderClient(client).post("debit", {**debit_payload(token, tx), "game_id": game_id}).status

    @staticmethod
    def open_ones(playing) -> set[str]:
        from sessions.services import session_token_hash

        open_hashes = set(GameSession.objects.filter(closed_at__isnull=True).values_list("token_hash", flat=True))
        return {name for name, token in playing.items() if session_token_hash(token) in open_hashes}

    def test_a_game_s_restriction(self, admin_client, client, playing):
        game = Game.objects.get(game_id="sandbox:dice")
        url = reverse("admin:provider_game_change", args=[game.pk])
        form = {"game_id": game.game_id, "provider": game.provider_id, "name": game.name, "game_type": game.game_type}
        r = admin_client.post(url, {**form, "is_enabled": "on", "restricted_countries": "US"}, follow=True)
        assert r.status_code == 200
        assert "Closed 2 open game session(s)" in r.content.decode()  # the US player's and the unknown country's
        assert self.open_ones(playing) == {"mt_dice", "us_slot"}
        assert self.debit(client, playing["us_dice"], "d-us-after") == 401
        assert self.debit(client, playing["mt_dice"], "d-mt-after") == 200
        assert self.debit(client, playing["us_slot"], "d-slot-after", "sandbox:slot") == 200
        # A session the lists exclude, opened around them: a save that leaves the countries as
        # they are closes nothing.
        restrict(Game, "sandbox:dice")
        mt_again = launch("p_demo_1")
        restrict(Game, "sandbox:dice", "MT", "US")
        same = {**form, "name": "Dice", "is_enabled": "on", "restricted_countries": "MT,US"}
        assert "Closed" not in admin_client.post(url, same, follow=True).content.decode()
        assert self.open_ones({"mt_again": mt_again}) == {"mt_again"}
        # A change of the countries sweeps them all (the launch's rule), loosening or not.
        loosened = {**same, "restricted_countries": "MT"}
        r = admin_client.post(url, loosened, follow=True)
        assert "Closed 2 open game session(s)" in r.content.decode(), [str(m) for m in r.context["messages"]]
        assert self.open_ones({"mt_again": mt_again}) == set()

    def test_a_provider_s_restriction_closes_its_games_sessions(self, admin_client, playing):
        provider = Provider.objects.get(code="sandbox")
        url = reverse("admin:provider_provider_change", args=[provider.pk])
        form = {
            "name": provider.name,
            "is_enabled": "on",
            "ip_allowlist": "[]",
            "rate_limit_per_second": provider.rate_limit_per_second,
            "launch_url_template": provider.launch_url_template,
            "restricted_countries": "MT",
        }
        secrets = {f"secrets-{k}": v for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()}
        r = admin_client.post(url, {**form, **secrets}, follow=True)
        assert r.status_code == 200 and "Closed 2 open game session(s)" in r.content.decode(), r.context[
            "adminform"
        ].form.errors
        assert self.open_ones(playing) == {"us_dice", "us_slot"}

    def test_a_player_whose_country_changes_leaves_the_games_not_offered_there(self, client, playing):
        restrict(Game, "sandbox:dice", "DE")
        put = {"country": "DE", "reason": "moved"}
        r = client.put("/api/v1/players/p_demo_1", put, content_type="application/json", headers=TOKEN)
        assert r.status_code == 200, r.content
        assert self.open_ones(playing) == {"us_dice", "unknown_dice", "us_slot"}
        assert self.debit(client, playing["mt_dice"], "d-moved") == 401
        # A move to a country the games are offered in closes nothing; nor does a repeat.
        for _ in range(2):
            r = client.put("/api/v1/players/p_kyc_pending", {"country": "FR", "reason": "moved"}, **JSON)
            assert r.status_code == 200
            assert self.open_ones(playing) == {"us_dice", "unknown_dice", "us_slot"}
        # Recorded for a player of no country, who is offered only games restricted nowhere.
        assert (
            client.put("/api/v1/players/p_low_balance", {"country": "MT", "reason": "recorded"}, **JSON).status_code
            == 200
        )
        assert self.open_ones(playing) == {"us_dice", "unknown_dice", "us_slot"}
        slot = launch("p_demo_1", "sandbox:slot")  # restricted nowhere: stays open whatever the country
        assert client.put("/api/v1/players/p_demo_1", {"country": "US", "reason": "moved"}, **JSON).status_code == 200
        assert self.open_ones({"slot": slot}) == {"slot"}

    def test_a_restriction_saved_while_the_player_moved_is_caught_when_the_move_commits(
        self, playing, django_capture_on_commit_callbacks
    ):
        from players.services import player_update

        with django_capture_on_commit_callbacks(execute=True):
            player = Player.objects.get(player_id="p_demo_1")
            player_update(player=player, changed_by="t", reason="moved", country="DE")  # dice offered in DE yet
            assert self.open_ones(playing) == set(playing)
            restrict(Game, "sandbox:dice", "DE")  # swept by the player's old country, MT
        assert "mt_dice" not in self.open_ones(playing)

    def test_the_command_does_what_the_admin_does(self, client, playing):
        out = io.StringIO()
        call_command("restrict_countries", "--game", "sandbox:dice", "--add", "us", "--reason", "licence", stdout=out)
        assert out.getvalue().splitlines() == [
            "Game sandbox:dice: not offered in US (before: nowhere).",
            "Closed 2 open game session(s) of players it is not offered to.",
        ]
        assert self.open_ones(playing) == {"mt_dice", "us_slot"}
        assert self.debit(client, playing["us_dice"], "d-us-cmd") == 401
        change = SettingChange.objects.get(field="restricted_countries", changed_by="manage.py")
        assert (change.object_key, change.old_value, change.new_value) == ("sandbox:dice", "[]", '["US"]')
        assert (change.changed_by, change.reason) == ("manage.py", "licence")
        # Asked again, nothing changes: no second record, nothing swept.
        out = io.StringIO()
        call_command("restrict_countries", "--game", "sandbox:dice", "--add", "US", stdout=out)
        assert out.getvalue() == "Game sandbox:dice: not offered in US, unchanged.\n"
        assert SettingChange.objects.filter(field="restricted_countries", changed_by="manage.py").count() == 1

    def test_a_provider_s_list_set_added_to_taken_from_and_cleared(self, playing):
        def run(*args: str) -> list[str]:
            out = io.StringIO()
            call_command("restrict_countries", "--provider", "sandbox", *args, stdout=out)
            return out.getvalue().splitlines()

        assert run("--set", "MT, gb") == [
            "Provider sandbox's games: not offered in MT, GB (before: nowhere).",
            "Closed 2 open game session(s) of players it is not offered to.",  # MT's and the unknown country's
        ]
        assert self.open_ones(playing) == {"us_dice", "us_slot"}
        assert run("--remove", "MT", "--add", "FR,GB")[0] == (
            "Provider sandbox's games: not offered in GB, FR (before: MT, GB)."
        )
        assert run() == [
            "Provider sandbox: not offered in GB, FR",
            "  sandbox:dice: nothing of its own",
            "  sandbox:holdem: nothing of its own",
            "  sandbox:slot: nothing of its own",
        ]
        # An empty --set (an unset variable in a script) is refused: --clear says it.
        for empty in ("", " , "):
            with pytest.raises(CommandError, match="--set was given no country"):
                run("--set", empty)
        assert run("--clear")[0] == "Provider sandbox's games: not offered in nowhere (before: GB, FR)."
        assert Provider.objects.get(code="sandbox").restricted_countries == []
        trail = SettingChange.objects.filter(field="restricted_countries", changed_by="manage.py").order_by("id")
        assert [c.new_value for c in trail] == ['["MT", "GB"]', '["GB", "FR"]', "[]"]

    def test_a_game_s_own_list_is_shown_with_its_provider_s(self, sandbox):
        restrict(Game, "sandbox:slot", "GB")
        restrict(Provider, "sandbox", "US")
        out = io.StringIO()
        call_command("restrict_countries", "--game", "sandbox:slot", stdout=out)
        assert out.getvalue() == "Game sandbox:slot: not offered in GB, nor where its provider sandbox is not: US\n"

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (["--provider", "nobody", "--add", "GB"], "No provider 'nobody'."),
            (["--game", "sandbox:nothing", "--add", "GB"], "No game 'sandbox:nothing'."),
            (["--game", "sandbox:dice", "--add", "GBR"], "A list of ISO 3166-1 alpha-2 country codes"),
            (["--game", "sandbox:dice", "--add", "G1"], "A list of ISO 3166-1 alpha-2 country codes"),
            (["--game", "sandbox:dice", "--remove", "GBR"], "A list of ISO 3166-1 alpha-2 country codes"),
            (["--game", "sandbox:dice", "--set", "GB", "--clear"], "--clear and --set both"),
            (["--add", "GB"], "one of the arguments --provider --game is required"),
        ],
    )
    def test_bad_arguments_change_nothing(self, playing, args, error):
        from django.core.management.base import CommandError

        with pytest.raises(CommandError, match=error):
            call_command("restrict_countries", *args, stdout=io.StringIO())
        assert not SettingChange.objects.filter(field="restricted_countries", changed_by="manage.py").exists()
        assert Game.objects.get(game_id="sandbox:dice").restricted_countries == []
        assert len(self.open_ones(playing)) == 4

    def test_a_list_written_around_both_is_replaced_whole_not_added_to(self, sandbox):
        from django.core.management.base import CommandError

        Game.objects.filter(game_id="sandbox:dice").update(restricted_countries=Value({"GB": 1}, JSONField()))
        with pytest.raises(CommandError, match="not a list of country codes"):
            call_command("restrict_countries", "--game", "sandbox:dice", "--add", "US", stdout=io.StringIO())
        call_command("restrict_countries", "--game", "sandbox:dice", "--set", "GB,US", stdout=io.StringIO())
        assert Game.objects.get(game_id="sandbox:dice").restricted_countries == ["GB", "US"]


@pytest.mark.django_db(transaction=True)
def test_a_colleague_s_change_made_meanwhile_is_kept():
    """The additions are applied to the list as it is once the row's lock is held: a change
    committed while the command waited for it is not overwritten (real PostgreSQL)."""
    import threading

    from django.db import connection, transaction

    from casino_platform.tests.locks import until_another_waits_for_a_lock
    from sessions.services import restricted_countries_change

    call_command("seed_sandbox", stdout=io.StringIO())
    dice = Game.objects.get(game_id="sandbox:dice")
    errors: list[Exception] = []

    def command_adds_us():
        try:
            restricted_countries_change(target=dice, add=["US"], changed_by="manage.py")
        except Exception as exc:  # what the test asserts on
            errors.append(exc)
        finally:
            connection.close()

    other = threading.Thread(target=command_adds_us)
    with transaction.atomic():
        Game.objects.select_for_update().get(pk=dice.pk)  # staff's save, in progress
        other.start()
        until_another_waits_for_a_lock(other, "the command")
        Game.objects.filter(pk=dice.pk).update(restricted_countries=["GB"])
    other.join(timeout=20)
    assert errors == []
    assert Game.objects.get(pk=dice.pk).restricted_countries == ["GB", "US"]


class TestClosingSweep:
    def test_a_launch_that_read_the_old_lists_is_closed_once_the_change_commits(
        self, sandbox, django_capture_on_commit_callbacks
    ):
        from sessions.services import sessions_end_where_not_offered

        restrict(Game, "sandbox:dice", "MT")
        dice = Game.objects.select_related("provider").get(game_id="sandbox:dice")
        with django_capture_on_commit_callbacks(execute=True):
            assert sessions_end_where_not_offered(games=[dice]) == 0  # nobody playing yet
            restrict(Game, "sandbox:dice")  # the launch reads the lists as they were...
            late = launch("p_demo_1")
            restrict(Game, "sandbox:dice", "MT")  # ...and commits after the sweep
        assert not GameSession.objects.filter(closed_at__isnull=True).exists(), late

    def test_its_queries_do_not_grow_with_the_games(self, sandbox, django_assert_num_queries):
        from provider.tests.factories import GameFactory
        from sessions.services import sessions_end_where_not_offered

        provider = Provider.objects.get(code="sandbox")
        for n in range(5):
            GameFactory(provider=provider, game_id=f"sandbox:extra-{n}")
        for game_id in ("sandbox:dice", "sandbox:extra-0", "sandbox:extra-4"):
            launch("p_demo_1", game_id)
        restrict(Provider, "sandbox", "MT")
        games = list(provider.games.select_related("provider"))
        assert len(games) == 8
        with django_assert_num_queries(4):  # savepoint, the live sessions locked in id order, the update, release
            assert sessions_end_where_not_offered(games=games, again_after_commit=False) == 3


@pytest.mark.django_db(transaction=True)
def test_a_move_committed_for_real_sweeps_again_after_its_commit(client):
    """On a real commit (not inside a test's transaction) the second sweep runs in
    autocommit: its session locks need a transaction of their own, or the move answered 500
    after it had committed."""
    from sessions.services import session_token_hash

    call_command("seed_sandbox", stdout=io.StringIO())
    token = launch("p_demo_1")  # MT
    restrict(Game, "sandbox:dice", "DE")
    r = client.put("/api/v1/players/p_demo_1", {"country": "DE", "reason": "moved"}, **JSON)
    assert r.status_code == 200, r.content
    assert GameSession.objects.get(token_hash=session_token_hash(token)).closed_at is not None
    assert Player.objects.get(player_id="p_demo_1").country == "DE"
