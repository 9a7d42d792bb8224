"""The UKGC's positive action to resume: a self-exclusion that has ended refuses play until the
player asks to play again, and for a cooling-off after (RG_SELF_EXCLUSION_RESUME_ON_REQUEST,
RG_SELF_EXCLUSION_RESUME_DELAY_HOURS). The services, the debit in both its paths, a launch, a
deposit, the operator API, the admin's action, the migration that dates existing ones."""

import importlib
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.paginator import Paginator
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from casino_platform import clock as platform_clock
from casino_platform.errors import ValidationFailed
from ledger.tests.factories import CurrencyFactory
from players.errors import ResponsibleGamblingLimit
from players.models import Player, PlayerAuditLog, SelfExclusionState
from players.selectors import players_by_self_exclusion
from players.services import (
    player_assert_may_bet,
    player_extend_restriction,
    player_self_exclusion_resume,
    player_self_exclusion_state,
    player_update,
    player_update_by_staff,
)
from players.tests.factories import PlayerFactory
from players.tests.test_admin import with_reason
from players.tests.test_api import json_call
from wallet.tests.api_client import ProviderClient
from wallet.tests.test_api import balance_of, debit, launch

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


class Clock:
    """casino_platform.clock.now, moved by the test."""

    def __init__(self):
        self.at = timezone.now().replace(microsecond=0)

    def __call__(self):
        return self.at


@pytest.fixture
def clock():
    at = Clock()
    with mock.patch("casino_platform.clock.now", new=at):
        yield at


@pytest.fixture
def player():
    CurrencyFactory(code="EUR")
    return PlayerFactory()


def state(player):
    player.refresh_from_db()
    return player_self_exclusion_state(player=player, now=platform_clock.now())


def refusal(player) -> str:
    player.refresh_from_db()
    with pytest.raises(ResponsibleGamblingLimit) as refused:
        player_assert_may_bet(player=player, now=platform_clock.now())
    return refused.value.message


def resume(player, reason="asked by phone"):
    return player_self_exclusion_resume(player=player, changed_by="support", reason=reason)


def self_exclude(player, until):
    return player_extend_restriction(
        player=player, field="self_excluded_until", until=until, changed_by="player", reason="asked"
    )


class TestTheRule:
    def test_an_ended_self_exclusion_holds_until_the_player_asks_and_a_day_after(self, player, clock):
        start = clock.at
        self_exclude(player, start + 2 * DAY)
        assert state(player) == SelfExclusionState.IN_FORCE
        assert refusal(player) == f"Player {player.player_id} is self-excluded until {(start + 2 * DAY).isoformat()}."

        clock.at = start + 3 * DAY  # ended a day ago; the player has not asked
        assert state(player) == SelfExclusionState.AWAITING_REQUEST
        assert refusal(player) == (
            f"Player {player.player_id}'s self-exclusion ended at {(start + 2 * DAY).isoformat()}: play resumes "
            "only once they ask to play again, after a cooling-off."
        )

        resume(player)
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at == start + 4 * DAY
        assert state(player) == SelfExclusionState.COOLING_OFF
        assert refusal(player) == (
            f"Player {player.player_id} asked to play again after their self-exclusion: play resumes at "
            f"{(start + 4 * DAY).isoformat()}."
        )

        clock.at = start + 3 * DAY + timedelta(hours=23)
        resume(player, reason="asked again")  # a retry: the first request's time stands
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at == start + 4 * DAY

        clock.at = start + 4 * DAY
        assert state(player) == SelfExclusionState.ENDED
        player_assert_may_bet(player=player, now=clock.at)
        assert list(
            PlayerAuditLog.objects.filter(player=player, field="self_exclusion_resumes_at").values_list(
                "old_value", "new_value", "changed_by", "reason"
            )
        ) == [("", str(start + 4 * DAY), "support", "asked by phone")]

    def test_asking_while_it_is_in_force_is_refused_and_changes_nothing(self, player, clock):
        self_exclude(player, clock.at + 2 * DAY)
        with pytest.raises(ValidationFailed) as refused:
            resume(player)
        assert refused.value.details == {"self_excluded_until": [f"in force until {(clock.at + 2 * DAY).isoformat()}"]}
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at is None
        assert not PlayerAuditLog.objects.filter(player=player, field="self_exclusion_resumes_at").exists()

    def test_asking_with_nothing_to_resume_from_changes_nothing(self, player, clock):
        resume(player)
        player.refresh_from_db()
        assert (player.self_excluded_until, player.self_exclusion_resumes_at) == (None, None)
        assert state(player) == SelfExclusionState.NONE

    def test_a_new_self_exclusion_needs_a_new_request(self, player, clock):
        start = clock.at
        self_exclude(player, start + DAY)
        clock.at = start + 2 * DAY
        resume(player)
        clock.at = start + 5 * DAY  # resumed, played, and excluded themselves again
        self_exclude(player, start + 7 * DAY)
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at is None
        clock.at = start + 8 * DAY
        assert state(player) == SelfExclusionState.AWAITING_REQUEST

    def test_a_cooling_off_of_zero_resumes_play_on_the_request(self, player, clock, settings):
        settings.RG_SELF_EXCLUSION_RESUME_DELAY_HOURS = 0
        self_exclude(player, clock.at + DAY)
        clock.at += 2 * DAY
        resume(player)
        assert state(player) == SelfExclusionState.ENDED

    @pytest.mark.parametrize("asked", [False, True], ids=["waiting", "cooling-off"])
    def test_clearing_it_while_play_waits_needs_the_leave_to_end_one_early(self, player, clock, asked):
        self_exclude(player, clock.at + DAY)
        clock.at += 2 * DAY
        if asked:
            resume(player)
        player.refresh_from_db()
        before = (player.self_excluded_until, player.self_exclusion_resumes_at)
        with pytest.raises(ValidationFailed) as refused:
            player_update(player=player, changed_by="support", reason="on the phone", self_excluded_until=None)
        assert refused.value.details == {"self_excluded_until": ["play waits for the player's request to play again"]}
        player.refresh_from_db()
        assert (player.self_excluded_until, player.self_exclusion_resumes_at) == before
        with pytest.raises(ValidationFailed):  # the leave, and a reason of its own
            player_update_by_staff(
                player=player,
                changed_by="compliance",
                reason=" ",
                lift_early=True,
                changes={"self_excluded_until": None},
            )
        player_update_by_staff(
            player=player,
            changed_by="compliance",
            reason="entered on the wrong account",
            lift_early=True,
            changes={"self_excluded_until": None},
        )
        assert state(player) == SelfExclusionState.NONE

    @pytest.mark.parametrize("asked", [False, True])
    def test_correcting_the_date_of_an_ended_one_keeps_what_the_player_did(self, player, clock, asked):
        start = clock.at
        self_exclude(player, start + DAY)
        clock.at = start + 3 * DAY
        if asked:
            resume(player)
            clock.at = start + 5 * DAY  # play has resumed
        expected = state(player)
        player_update(player=player, changed_by="support", reason="typo", self_excluded_until=start + DAY / 2)
        assert state(player) == expected

    def test_a_request_dated_before_the_end_counts_as_none(self, player, clock):
        """Something that moves the end without the service (an old release during a rolling
        deploy, a raw update) leaves the last request behind: play waits for a new one."""
        start = clock.at
        Player.objects.filter(pk=player.pk).update(
            self_excluded_until=start - DAY, self_exclusion_resumes_at=start - 2 * DAY
        )
        assert state(player) == SelfExclusionState.AWAITING_REQUEST
        assert "ask to play again" in refusal(player)
        resume(player)
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at == start + DAY

    @pytest.mark.parametrize("asked", [None, "in force", "waiting", "cooling-off"])
    def test_one_that_waits_for_a_request_keeps_waiting_when_the_setting_goes_off_and_its_end_moves(
        self, player, clock, settings, asked
    ):
        start = clock.at
        self_exclude(player, start + DAY)
        if asked == "in force":
            clock.at = start + DAY / 2
        else:
            clock.at = start + 2 * DAY
            if asked == "cooling-off":
                resume(player)
        settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST = False
        player.refresh_from_db()
        player_update(
            player=player,
            changed_by="support",
            reason="a minute more",
            self_excluded_until=max(clock.at, start + DAY) + timedelta(minutes=1),
        )
        clock.at = max(clock.at, start + DAY) + timedelta(minutes=2)
        assert state(player) == SelfExclusionState.AWAITING_REQUEST

    def test_the_request_s_audit_row_says_what_it_replaced(self, player, clock):
        stale = clock.at - 2 * DAY
        Player.objects.filter(pk=player.pk).update(self_excluded_until=clock.at - DAY, self_exclusion_resumes_at=stale)
        resume(player)
        (audit,) = PlayerAuditLog.objects.filter(player=player, field="self_exclusion_resumes_at")
        assert (audit.old_value, audit.new_value) == (str(stale), str(clock.at + DAY))

    def test_the_time_play_resumes_is_set_by_the_request_only(self, player, clock):
        with pytest.raises(ValidationFailed, match="Not a player field: self_exclusion_resumes_at"):
            player_update(player=player, changed_by="support", reason="x", self_exclusion_resumes_at=clock.at)


class TestWithoutTheRule:
    """RG_SELF_EXCLUSION_RESUME_ON_REQUEST off: play resumes at the self-exclusion's end, and a
    self-exclusion keeps the rule it started under."""

    def test_play_resumes_at_the_end_which_an_extension_moves(self, player, clock, settings):
        settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST = False
        start = clock.at
        self_exclude(player, start + DAY)
        self_exclude(player, start + 3 * DAY)
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at == start + 3 * DAY
        clock.at = start + 3 * DAY
        assert state(player) == SelfExclusionState.ENDED
        player_assert_may_bet(player=player, now=clock.at)
        resume(player)  # nothing to ask for
        player.refresh_from_db()
        assert player.self_exclusion_resumes_at == start + 3 * DAY

    def test_turning_it_on_holds_only_self_exclusions_started_since(self, player, clock, settings):
        """Each keeps the rule it started under, extended or not: the player was told how it
        would end."""
        settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST = False
        extended, started_after = PlayerFactory(), PlayerFactory()
        self_exclude(player, clock.at + DAY)
        self_exclude(extended, clock.at + DAY)
        settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST = True
        self_exclude(extended, clock.at + 2 * DAY)
        self_exclude(started_after, clock.at + DAY)
        clock.at += 3 * DAY
        assert state(player) == state(extended) == SelfExclusionState.ENDED
        assert state(started_after) == SelfExclusionState.AWAITING_REQUEST


class TestPlay:
    """The refusal where play is asked for: the debit (PostgreSQL's function and the Python
    path), a launch and a cashier deposit; credits owed are still paid."""

    @pytest.fixture
    def ended(self, client):
        call_command("seed_sandbox", stdout=open("/dev/null", "w"))
        player = Player.objects.get(player_id="p_demo_1")
        token = launch()
        Player.objects.filter(pk=player.pk).update(self_excluded_until=timezone.now() - timedelta(hours=1))
        return player, token

    @pytest.mark.parametrize("in_database", [True, False], ids=["function", "python"])
    def test_the_debit_is_refused_until_play_resumes(self, client, ended, in_database, settings):
        settings.WALLET_DEBIT_IN_DATABASE = in_database
        player, token = ended
        api, before = ProviderClient(client), balance_of()
        r = api.post("debit", debit(token, tx="d-asked"))
        assert (r.status, r.body["code"]) == (403, "RG_LIMIT")
        assert "self-exclusion ended at" in r.body["message"] and "ask to play again" in r.body["message"]
        resume(player)
        r = api.post("debit", debit(token, tx="d-cooling"))
        assert (r.status, r.body["code"]) == (403, "RG_LIMIT")
        assert "asked to play again after their self-exclusion: play resumes at" in r.body["message"]
        assert balance_of() == before
        Player.objects.filter(pk=player.pk).update(self_exclusion_resumes_at=timezone.now() - timedelta(seconds=1))
        r = api.post("debit", debit(token, tx="d-resumed"))
        assert (r.status, balance_of()) == (200, before - 100)

    def test_launch_and_deposit_are_refused_until_play_resumes(self, client, ended):
        player, _ = ended
        r = client.post(
            "/api/v1/sessions",
            {"player_id": player.player_id, "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers={"Authorization": "Token sandbox-operator-token"},
        )
        assert (r.status_code, r.json()["code"]) == (403, "RG_LIMIT")
        assert "ask to play again" in r.json()["message"]
        assert deposit(client, player).json()["code"] == "RG_LIMIT"
        resume(player)
        r = deposit(client, player)
        assert (r.status_code, r.json()["code"]) == (403, "RG_LIMIT")
        assert "play resumes at" in r.json()["message"]
        Player.objects.filter(pk=player.pk).update(self_exclusion_resumes_at=timezone.now() - timedelta(seconds=1))
        r = client.post(
            "/api/v1/sessions",
            {"player_id": player.player_id, "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers={"Authorization": "Token sandbox-operator-token"},
        )
        assert r.status_code == 201, r.content
        assert deposit(client, player).status_code in (200, 201)


def deposit(client, player):
    body = {"currency": "EUR", "amount": 100, "reference": f"psp-{timezone.now().timestamp()}"}
    return json_call(client, "POST", f"{player.player_id}/deposits", body)


class TestOperatorApi:
    @pytest.fixture
    def ended(self):
        call_command("seed_sandbox", stdout=open("/dev/null", "w"))
        player = Player.objects.get(player_id="p_demo_1")
        Player.objects.filter(pk=player.pk).update(self_excluded_until=timezone.now() - timedelta(hours=1))
        return player

    def test_the_request_starts_the_cooling_off_and_the_state_says_so(self, client, ended):
        player = ended
        r = json_call(client, "GET", "p_demo_1/responsible-gambling")
        assert r.status_code == 200
        assert (r.json()["self_exclusion"], r.json()["self_exclusion_resumes_at"]) == ("awaiting_request", None)
        asked = timezone.now()
        r = json_call(client, "POST", "p_demo_1/self-exclusion/resume", {"reason": "player asked in the app"})
        assert r.status_code == 200, r.content
        body = r.json()
        resumes = timezone.datetime.fromisoformat(body["self_exclusion_resumes_at"])
        assert body["self_exclusion"] == "cooling_off"
        assert asked + timedelta(hours=24) <= resumes <= timezone.now() + timedelta(hours=24)
        again = json_call(client, "POST", "p_demo_1/self-exclusion/resume", {})
        assert (again.status_code, again.json()) == (200, body)
        assert PlayerAuditLog.objects.filter(player=player, field="self_exclusion_resumes_at").count() == 1
        assert PlayerAuditLog.objects.get(player=player, field="self_exclusion_resumes_at").reason == (
            "player asked in the app"
        )

    def test_a_request_older_than_the_end_is_shown_as_none(self, client, ended):
        Player.objects.filter(pk=ended.pk).update(self_exclusion_resumes_at=timezone.now() - timedelta(days=3))
        body = json_call(client, "GET", "p_demo_1/responsible-gambling").json()
        assert (body["self_exclusion"], body["self_exclusion_resumes_at"]) == ("awaiting_request", None)

    def test_bad_requests_name_their_error_and_change_nothing(self, client, ended):
        in_force = timezone.now() + 30 * DAY
        PlayerFactory(player_id="p_in_force", self_excluded_until=in_force)
        cases = [
            ("p_in_force/self-exclusion/resume", {}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/self-exclusion/resume", {"reason": 5}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/self-exclusion/resume", {"until": "2027-01-01T00:00:00Z"}, 400, "VALIDATION_ERROR"),
            ("p_demo_1/self-exclusion/resume", {"reason": "x" * 201}, 400, "VALIDATION_ERROR"),
            ("nobody/self-exclusion/resume", {}, 404, "PLAYER_NOT_FOUND"),
        ]
        for path, body, status, code in cases:
            r = json_call(client, "POST", path, body)
            assert (r.status_code, r.json()["code"]) == (status, code), (path, body, r.content)
        r = json_call(client, "POST", "p_in_force/self-exclusion/resume", {})
        assert r.json()["details"] == {"self_excluded_until": [f"in force until {in_force.isoformat()}"]}
        r = json_call(client, "POST", "p_demo_1/self-exclusion/resume", {}, headers={})
        assert r.status_code == 401
        assert not Player.objects.filter(self_exclusion_resumes_at__isnull=False).exists()

    def test_the_schema_names_the_endpoint(self, client, db):
        r = client.get("/api/schema/")
        assert "/api/v1/players/{player_id}/self-exclusion/resume" in r.content.decode()


class TestAdmin:
    def test_support_record_the_request_and_see_when_play_resumes(self, admin_client, clock):
        CurrencyFactory(code="EUR")
        ended = PlayerFactory(player_id="p_ended", self_excluded_until=clock.at - DAY)
        in_force = PlayerFactory(player_id="p_in_force", self_excluded_until=clock.at + DAY)
        never = PlayerFactory(player_id="p_never")
        url = reverse("admin:players_player_changelist")
        page = admin_client.get(reverse("admin:players_player_change", args=[ended.pk])).content.decode()
        assert "Ended; play resumes only once the player asks" in page
        asked = admin_client.post(
            url, {"action": "record_resume_requests", "_selected_action": [ended.pk, in_force.pk, never.pk]}
        )
        assert asked.status_code == 200 and "Record the players&#x27; requests to play again" in asked.content.decode()
        r = with_reason(admin_client, url, "record_resume_requests", [ended.pk, in_force.pk, never.pk], "by phone")
        shown = [str(m) for m in r.wsgi_request._messages]
        assert shown == [
            "Recorded the request of 1 player(s).",
            "Still self-excluded, so not recorded: p_in_force. They can ask once it has ended.",
            "Nothing to record for p_never: no self-exclusion of theirs waits for a request (none, or they have "
            "asked already).",
        ]
        ended.refresh_from_db()
        in_force.refresh_from_db()
        assert ended.self_exclusion_resumes_at == clock.at + DAY
        assert in_force.self_exclusion_resumes_at is None
        page = admin_client.get(reverse("admin:players_player_change", args=[ended.pk])).content.decode()
        assert f"play resumes at {clock.at + DAY:%Y-%m-%d %H:%M} UTC" in page
        audit = PlayerAuditLog.objects.get(player=ended, field="self_exclusion_resumes_at")
        assert (audit.changed_by, audit.reason) == ("admin", "by phone")


def test_the_admin_s_filter_finds_each_state_as_the_refusal_judges_it(admin_client, clock):
    """players_by_self_exclusion against player_self_exclusion_state, over every shape the two
    columns take (a request before the end included), and the Players list's filter by it."""
    CurrencyFactory(code="EUR")
    now = clock.at
    shapes = {
        "none": (None, None),
        "in-force": (now + DAY, None),
        "in-force-off": (now + DAY, now + DAY),
        "waiting": (now - DAY, None),
        "stale-request": (now - DAY, now - 2 * DAY),
        "cooling": (now - DAY, now + DAY),
        "ended-asked": (now - 2 * DAY, now - DAY),
        "ended-at-its-end": (now - DAY, now - DAY),
    }
    players = {
        name: PlayerFactory(player_id=f"p-{name}", self_excluded_until=until, self_exclusion_resumes_at=resumes)
        for name, (until, resumes) in shapes.items()
    }
    url = reverse("admin:players_player_changelist")
    for state in SelfExclusionState:
        expected = {p.player_id for p in players.values() if player_self_exclusion_state(player=p, now=now) == state}
        found = set(
            players_by_self_exclusion(Player.objects.all(), state=state, now=now).values_list("player_id", flat=True)
        )
        assert found == expected, state
        if state != SelfExclusionState.NONE:
            page = admin_client.get(url, {"self_exclusion": state.value})
            changelist = page.context["cl"]
            assert {p.player_id for p in changelist.result_list} == expected, state
            # Along the partial index, counted exactly (a table of millions: the reviewer's).
            assert changelist.queryset.query.order_by[0] == "-self_excluded_until"
            assert type(changelist.paginator) is Paginator and changelist.result_count == len(expected)


def test_metrics_count_the_players_play_still_waits_for(client, clock, django_assert_num_queries):
    from casino_platform.metrics import _fill_self_exclusions, _self_exclusion_families
    from casino_platform.tests.test_metrics import scrape

    now = clock.at
    for until, resumes in [
        (now - DAY, None),  # waiting
        (now - DAY, now - 2 * DAY),  # a request older than the end: waiting
        (now - DAY, now + DAY),  # cooling off
        (now - 2 * DAY, now - DAY),  # ended
        (now + DAY, None),  # in force
        (None, None),
    ]:
        PlayerFactory(self_excluded_until=until, self_exclusion_resumes_at=resumes)
    samples = scrape(client)
    assert samples[("players_self_exclusion_awaiting_request", frozenset())] == 2
    assert samples[("players_self_exclusion_cooling_off", frozenset())] == 1
    with django_assert_num_queries(1):
        _fill_self_exclusions(*_self_exclusion_families())


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_start_one_cooling_off():
    CurrencyFactory(code="EUR")
    player = PlayerFactory(self_excluded_until=timezone.now() - DAY)
    barrier, errors = threading.Barrier(2), []

    def ask():
        try:
            barrier.wait(timeout=10)
            resume(Player.objects.get(pk=player.pk))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    (audit,) = PlayerAuditLog.objects.filter(player=player, field="self_exclusion_resumes_at")
    assert audit.new_value == str(Player.objects.get(pk=player.pk).self_exclusion_resumes_at)


class TestMigration:
    """players/0018 dates the self-exclusions it finds: an ended one had let its player play."""

    @pytest.mark.parametrize("on_request", [True, False])
    def test_ended_ones_resumed_at_their_end_and_ones_in_force_follow_the_setting(self, settings, on_request):
        settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST = on_request
        now = timezone.now().replace(microsecond=0)
        ended = PlayerFactory(self_excluded_until=now - DAY)
        in_force = PlayerFactory(self_excluded_until=now + DAY)
        never = PlayerFactory()
        migration = importlib.import_module("players.migrations.0018_self_exclusion_resumes_at")
        migration.resumes_at(apps, None)
        for p in (ended, in_force, never):
            p.refresh_from_db()
        assert ended.self_exclusion_resumes_at == now - DAY
        assert in_force.self_exclusion_resumes_at == (None if on_request else now + DAY)
        assert never.self_exclusion_resumes_at is None
