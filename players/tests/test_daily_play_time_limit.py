"""The player's daily play-time limit: their game sessions in a UTC day last so many minutes in
all, sessions open side by side counted once. A launch's session ends when the day's allowance
runs out, a launch with none left is refused until midnight UTC, and a stricter limit ends the
sessions already open sooner; longer or removed only after the cooling-off."""

import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from casino_platform import clock
from casino_platform.errors import ValidationFailed
from players.errors import ResponsibleGamblingLimit
from players.models import DailyPlayTimeLimit, PlayerAuditLog
from players.selectors import player_play_time
from players.services import player_set_daily_play_time_limit, rg_limits_apply_due
from players.tests.test_api import TOKEN, json_call
from players.tests.test_session_time_limit import _in_threads, player
from sessions.models import GameSession
from wallet.tests.api_client import ProviderClient
from wallet.tests.test_admin import messages_of
from wallet.tests.test_api import debit, launch

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 12, 1, tzinfo=UTC)  # midnight UTC


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))


def at(moment: datetime):
    return mock.patch("casino_platform.clock.now", return_value=moment)


def set_limit(minutes, reason="player asked"):
    return player_set_daily_play_time_limit(player=player(), minutes=minutes, changed_by="support", reason=reason)


def session_at(start: datetime, *, closed: datetime | None = None, idle_until: datetime | None = None) -> GameSession:
    """A launch at `start`, played on (play slides its idle expiry) until it is closed at
    `closed`, or until it expires for want of play at `idle_until`."""
    with at(start):
        launch()
    session = GameSession.objects.latest("id")
    if closed:
        GameSession.objects.filter(pk=session.pk).update(closed_at=closed, expires_at=closed + timedelta(minutes=30))
    elif idle_until:
        GameSession.objects.filter(pk=session.pk).update(expires_at=idle_until)
    return GameSession.objects.get(pk=session.pk)


def ends_at(session: GameSession) -> datetime:
    return GameSession.objects.get(pk=session.pk).absolute_expires_at


class TestPlayTime:
    def test_sessions_count_from_launch_to_end_today_only_and_side_by_side_once(self, sandbox):
        h = timedelta(hours=1)
        session_at(DAY - 2 * h, closed=DAY - h)  # yesterday: nothing today
        session_at(DAY - h, closed=DAY + h / 2)  # over midnight: its half hour today
        session_at(DAY + h, closed=DAY + 2 * h)  # an hour...
        session_at(DAY + 1.5 * h, idle_until=DAY + 2.5 * h)  # ...beside it, then expired idle: 1h30 together
        session_at(DAY + 9 * h, idle_until=DAY + 10.5 * h)  # still in play at 10:00: an hour so far
        with at(DAY + 9 * h):
            launch(player_id="p_demo_2", currency="USD")  # another player's time is theirs
        played = player_play_time(player_pk=player().pk, since=DAY, until=DAY + 10 * h)
        assert played == timedelta(minutes=30 + 90 + 60)


class TestLaunches:
    def test_a_launch_ends_when_the_day_s_allowance_runs_out(self, sandbox):
        set_limit(120)
        session_at(DAY + timedelta(hours=8), closed=DAY + timedelta(hours=9, minutes=30))
        launched = session_at(DAY + timedelta(hours=12))
        assert launched.absolute_expires_at == DAY + timedelta(hours=12, minutes=30)
        assert launched.expires_at <= launched.absolute_expires_at
        # A second game beside it ends at the same instant: the time left fell as the first ran.
        beside = session_at(DAY + timedelta(hours=12, minutes=10))
        assert beside.absolute_expires_at == DAY + timedelta(hours=12, minutes=30)

    def test_with_nothing_left_a_launch_is_refused_until_midnight(self, sandbox):
        set_limit(60)
        session_at(DAY + timedelta(hours=8), closed=DAY + timedelta(hours=9))
        with at(DAY + timedelta(hours=20)), pytest.raises(ResponsibleGamblingLimit) as refused:
            launch()
        assert refused.value.details == {
            "daily_play_time_limit": {"minutes": 60, "resumes_at": "2026-12-02T00:00:00+00:00"}
        }
        assert GameSession.objects.count() == 1
        tomorrow = session_at(DAY + timedelta(days=1, minutes=5))
        assert tomorrow.absolute_expires_at == DAY + timedelta(days=1, minutes=65)

    def test_the_session_time_limit_and_the_platform_s_cap_still_bound_it(self, sandbox, settings):
        from players.services import player_set_session_time_limit

        settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS = 3600
        set_limit(600)
        assert session_at(DAY).absolute_expires_at == DAY + timedelta(hours=1)
        player_set_session_time_limit(player=player(), minutes=20, changed_by="support", reason="x")
        assert session_at(DAY + timedelta(hours=2)).absolute_expires_at == DAY + timedelta(hours=2, minutes=20)


class TestChanges:
    def test_a_stricter_limit_ends_open_sessions_sooner_and_with_nothing_left_at_once(self, sandbox):
        in_play = DAY + timedelta(hours=13)  # each session's idle expiry, slid on by play
        first = session_at(DAY + timedelta(hours=10), idle_until=in_play)
        second = session_at(DAY + timedelta(hours=10, minutes=30), idle_until=in_play)
        with at(DAY + timedelta(hours=11)):
            set_limit(90)  # an hour played: half an hour left
        assert ends_at(first) == ends_at(second) == DAY + timedelta(hours=11, minutes=30)
        with at(DAY + timedelta(hours=11, minutes=10)):
            set_limit(30)  # 70 minutes played already
        assert ends_at(first) == ends_at(second) == DAY + timedelta(hours=11, minutes=10)

    def test_a_longer_limit_and_a_removal_wait_the_cooling_off_and_are_audited(self, sandbox, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 60
        open_one = session_at(DAY + timedelta(hours=10), idle_until=DAY + timedelta(hours=13))
        with at(DAY + timedelta(hours=10)):
            set_limit(60)
            longer = set_limit(240, reason="holiday")
        assert (longer.amount, longer.pending_amount) == (60, 240)
        assert ends_at(open_one) == DAY + timedelta(hours=11)
        with at(DAY + timedelta(hours=10, minutes=2)):  # the session still open and in play
            assert rg_limits_apply_due() == 1
            assert DailyPlayTimeLimit.objects.get().amount == 240
            assert ends_at(open_one) == DAY + timedelta(hours=11)  # a longer limit lengthens no open session
            assert session_at(DAY + timedelta(hours=10, minutes=3)).absolute_expires_at == DAY + timedelta(
                hours=14, minutes=0
            )  # a new launch has the longer day: 240 minutes from 10:00
            removal = set_limit(None, reason="no longer")
        assert removal is not None and removal.pending_removal
        rows = PlayerAuditLog.objects.filter(field__startswith="daily_play_time_limit").order_by("id")
        assert [(row.field, row.old_value, row.new_value) for row in rows][:2] == [
            ("daily_play_time_limit", "", "60"),
            ("daily_play_time_limit_pending", "", f"240 from {longer.pending_from.isoformat()}"),
        ]

    def test_with_less_than_a_minute_left_a_launch_is_refused(self, sandbox):
        set_limit(30)
        session_at(DAY + timedelta(hours=8), closed=DAY + timedelta(hours=8, minutes=29, seconds=30))
        with at(DAY + timedelta(hours=9)), pytest.raises(ResponsibleGamblingLimit):
            launch()

    @pytest.mark.parametrize("minutes", [0, 1441, 30.5, "60", True])
    def test_out_of_range_minutes_are_refused(self, sandbox, minutes):
        with pytest.raises(ValidationFailed, match="daily play-time limit"):
            set_limit(minutes)
        assert not DailyPlayTimeLimit.objects.exists()


class TestOperatorApi:
    def test_set_read_and_remove(self, client, sandbox):
        assert json_call(client, "GET", "p_demo_1/responsible-gambling").json()["daily_play_time_limit"] is None
        session_at(DAY + timedelta(hours=9), closed=DAY + timedelta(hours=9, minutes=20))
        with at(DAY + timedelta(hours=10)):
            r = json_call(client, "PUT", "p_demo_1/daily-play-time-limit", {"minutes": 45})
            assert r.status_code == 200, r.content
            assert r.json()["daily_play_time_limit"] == {
                "minutes": 45,
                "played_seconds": 20 * 60,
                "remaining_seconds": 25 * 60,
                "pending": None,
            }
            r = json_call(client, "DELETE", "p_demo_1/daily-play-time-limit?reason=no+longer")
        state = r.json()["daily_play_time_limit"]
        assert state["minutes"] == 45 and state["pending"]["minutes"] is None
        assert {row.changed_by for row in PlayerAuditLog.objects.filter(field__startswith="daily")} == {
            "operator:sandbox"
        }

    @pytest.mark.parametrize("body", [{"minutes": 0}, {"minutes": 1441}, {"minutes": "60"}, {}])
    def test_bad_minutes_are_a_validation_error(self, client, sandbox, body):
        r = json_call(client, "PUT", "p_demo_1/daily-play-time-limit", body)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert "minutes" in json.dumps(r.json())
        assert not DailyPlayTimeLimit.objects.exists()

    def test_a_launch_with_nothing_left_is_rg_limit(self, client, sandbox):
        noon = DAY + timedelta(hours=12)
        with at(noon):
            json_call(client, "PUT", "p_demo_1/daily-play-time-limit", {"minutes": 1})
        session_at(noon, closed=noon + timedelta(minutes=1))
        with at(noon + timedelta(minutes=2)):
            r = client.post(
                "/api/v1/sessions",
                {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"},
                content_type="application/json",
                headers=TOKEN,
            )
        assert (r.status_code, r.json()["code"]) == (403, "RG_LIMIT"), r.content
        assert r.json()["details"]["daily_play_time_limit"]["minutes"] == 1


@pytest.mark.django_db(transaction=True)
def test_over_http_the_day_s_time_ends_the_session_and_the_next_launch_waits(live_server, monkeypatch):
    """The casino sets the limit, the launch and the provider's calls meet it; over a socket."""
    # The platform's clock runs from today's noon, UTC: the quarter hour below never crosses
    # midnight, when a new day's allowance starts.
    started, noon = timezone.now(), timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(clock, "now", lambda: noon + (timezone.now() - started))
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    casino = requests.Session()
    casino.headers.update(TOKEN)
    url = f"{live_server.url}/api/v1"
    r = casino.put(f"{url}/players/p_demo_1/daily-play-time-limit", json={"minutes": 15}, timeout=10)
    assert r.status_code == 200, r.text
    body = {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"}
    launched = casino.post(f"{url}/sessions", json=body, timeout=10).json()
    assert datetime.fromisoformat(launched["ends_at"]) - clock.now() <= timedelta(minutes=15)
    wallet = ProviderClient(base_url=live_server.url, session=requests.Session())
    assert wallet.post("debit", debit(launched["session_token"], tx="dp-1", amount=500, round_id="dp1")).status == 200
    later = clock.now() + timedelta(minutes=16)
    monkeypatch.setattr(clock, "now", lambda: later)
    refused = wallet.post("debit", debit(launched["session_token"], tx="dp-2", amount=500, round_id="dp2"))
    assert (refused.status, refused.body["code"]) == (401, "SESSION_EXPIRED")
    again = casino.post(f"{url}/sessions", json=body, timeout=10)
    assert (again.status_code, again.json().get("code")) == (403, "RG_LIMIT"), again.text


class TestAdmin:
    def test_support_sets_the_limit_and_sees_the_day_so_far(self, admin_client, sandbox):
        page = admin_client.get(reverse("admin:players_player_change", args=[player().pk])).content.decode()
        assert "Set a daily play-time limit…" in page
        url = reverse("admin:players_player_daily_play_time_limit", args=[player().pk])
        assert "No daily play-time limit is set" in admin_client.get(url).content.decode()
        r = admin_client.post(url, {"minutes": "90", "reason": "asked by phone"})
        assert messages_of(r) == ["The daily play-time limit is 90 minutes, in force now; open sessions end within it."]
        noon = DAY + timedelta(hours=12)
        session_at(noon, closed=noon + timedelta(minutes=5))
        with at(noon + timedelta(hours=1)):
            page = admin_client.get(reverse("admin:players_player_change", args=[player().pk])).content.decode()
        assert "90 minutes" in page and "5 min (1 h 25 min left)" in page

    def test_staff_without_the_permission_are_turned_away(self, client, django_user_model, sandbox):
        clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
        clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_player", "change_player"]))
        client.force_login(clerk)
        r = client.post(reverse("admin:players_player_daily_play_time_limit", args=[player().pk]), {"minutes": "9"})
        assert messages_of(r) == ["You may not change players' daily play-time limits."]
        assert not DailyPlayTimeLimit.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_launches_and_a_stricter_limit_leave_no_session_past_the_day_s_allowance():
    """Launches of several games and a new limit race on real PostgreSQL: whichever commits
    first, the player's sessions together end within the day's allowance."""
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    noon = DAY + timedelta(hours=12)  # the clock stands still there: no midnight, no time played
    for attempt in range(4):
        minutes = 120 - 10 * attempt
        with at(noon):
            errors = _in_threads(*[launch] * 4, lambda minutes=minutes: set_limit(minutes))
        assert errors == []
        latest_end = max(
            GameSession.objects.filter(closed_at__isnull=True).values_list("absolute_expires_at", flat=True)
        )
        # Nothing was played before noon: the sessions' union from then on is the day's play.
        assert latest_end - noon == timedelta(minutes=minutes), (attempt, latest_end - noon)
