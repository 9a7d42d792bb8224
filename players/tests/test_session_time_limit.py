"""The player's session time limit: a game session ends that long after its launch, whatever
the play in it. Stricter at once (open sessions end sooner), longer or removed only after the
cooling-off, like the loss and deposit limits it shares its rules with."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from casino_platform import clock
from players.models import Player, PlayerAuditLog, SessionTimeLimit
from players.selectors import player_daily_play_time
from players.services import player_set_daily_play_time_limit, player_set_session_time_limit, rg_limits_apply_due
from players.tests.test_api import TOKEN, json_call
from sessions.models import GameSession
from sessions.selectors import session_state
from sessions.services import session_resolve
from wallet.tests.api_client import ProviderClient
from wallet.tests.test_admin import messages_of
from wallet.tests.test_api import debit, launch

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS = 4 * 3600
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))


def player() -> Player:
    return Player.objects.get(player_id="p_demo_1")


def set_limit(minutes, reason="player asked"):
    return player_set_session_time_limit(player=player(), minutes=minutes, changed_by="support", reason=reason)


def session_length(session: GameSession) -> timedelta:
    return session.absolute_expires_at - session.created_at


class TestServices:
    def test_a_launch_ends_within_the_limit_and_without_one_at_the_platform_s_cap(self, sandbox):
        launch()
        without = GameSession.objects.get()
        assert timedelta(hours=4) - timedelta(seconds=1) < session_length(without) <= timedelta(hours=4)
        set_limit(45)
        launch()
        limited = GameSession.objects.latest("id")
        assert timedelta(minutes=45) - timedelta(seconds=1) < session_length(limited) <= timedelta(minutes=45)
        assert limited.expires_at <= limited.absolute_expires_at

    def test_a_stricter_limit_brings_open_sessions_forward_a_longer_one_waits(self, sandbox):
        launch(), launch()
        GameSession.objects.filter(pk=GameSession.objects.earliest("id").pk).update(closed_at=timezone.now())
        set_limit(60)
        open_one = GameSession.objects.latest("id")
        closed_one = GameSession.objects.earliest("id")
        assert session_length(open_one) <= timedelta(minutes=60)
        assert session_length(closed_one) > timedelta(hours=3)  # a closed session is left as it was
        limit = set_limit(120)
        assert (limit.amount, limit.pending_amount) == (60, 120) and limit.pending_from is not None
        launch()
        assert session_length(GameSession.objects.latest("id")) <= timedelta(minutes=60)  # the shorter holds
        assert rg_limits_apply_due(now=limit.pending_from + timedelta(seconds=1)) == 1
        launch()
        newest = GameSession.objects.latest("id")
        assert timedelta(minutes=119) < session_length(newest) <= timedelta(minutes=120)
        assert session_length(GameSession.objects.get(pk=open_one.pk)) <= timedelta(minutes=60)  # not lengthened

    def test_a_session_played_longer_than_a_stricter_limit_ends_now_not_back_dated(self, sandbox, monkeypatch):
        """Played 09:00-12:00 under a 240-minute daily limit, then a 30-minute session time
        limit at 12:00: the session ends at 12:00, not at 09:30, which would have erased 150
        of the day's 180 minutes played (and given them back to play) and dated its end
        before bets it took."""
        day = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
        now = [day]
        monkeypatch.setattr(clock, "now", lambda: now[0])
        player_set_daily_play_time_limit(player=player(), minutes=240, changed_by="t", reason="t")
        token = launch()
        session = GameSession.objects.get()
        for minutes in range(20, 181, 20):  # a call every 20 minutes slides the idle expiry
            now[0] = day + timedelta(minutes=minutes)
            session_resolve(token=token, provider=session.provider)
        daily = player_daily_play_time(player_pk=player().pk, now=now[0])
        assert daily is not None and daily.played == timedelta(minutes=180)

        set_limit(30)

        session.refresh_from_db()
        state = session_state(session=session, now=now[0])
        assert (state["state"], state["ended_at"], state["ends_at"]) == ("ended", now[0], now[0])
        daily = player_daily_play_time(player_pk=player().pk, now=now[0])
        assert daily is not None and daily.played == timedelta(minutes=180)
        # One played for less than a stricter limit still ends that long after its launch.
        launch()
        now[0] += timedelta(minutes=10)
        set_limit(20)
        assert session_length(GameSession.objects.latest("id")) == timedelta(minutes=20)

    def test_removal_waits_the_cooling_off_and_every_change_is_audited(self, sandbox):
        set_limit(30)
        limit = set_limit(None, reason="wants to play longer")
        assert limit is not None and limit.pending_removal
        rg_limits_apply_due(now=limit.pending_from + timedelta(seconds=1))
        assert not SessionTimeLimit.objects.exists()
        rows = list(PlayerAuditLog.objects.filter(field__startswith="session_time_limit").order_by("id"))
        assert [(r.field, r.old_value, r.new_value) for r in rows] == [
            ("session_time_limit", "", "30"),
            ("session_time_limit_pending", "", f"removal from {limit.pending_from.isoformat()}"),
            ("session_time_limit_pending", f"removal from {limit.pending_from.isoformat()}", ""),
            ("session_time_limit", "30", ""),
        ]

    @pytest.mark.parametrize("minutes", [0, -5, 1441, 30.5, "60", True])
    def test_out_of_range_minutes_are_refused(self, sandbox, minutes):
        from casino_platform.errors import ValidationFailed

        with pytest.raises(ValidationFailed):
            set_limit(minutes)
        assert not SessionTimeLimit.objects.exists()


class TestOperatorApi:
    def test_set_shorten_lengthen_and_remove(self, client, sandbox):
        r = json_call(client, "GET", "p_demo_1/responsible-gambling")
        assert r.json()["session_time_limit"] is None
        r = json_call(client, "PUT", "p_demo_1/session-time-limit", {"minutes": 90})
        assert r.status_code == 200, r.content
        assert r.json()["session_time_limit"] == {"minutes": 90, "pending": None}
        r = json_call(client, "PUT", "p_demo_1/session-time-limit", {"minutes": 60})
        assert r.json()["session_time_limit"] == {"minutes": 60, "pending": None}
        r = json_call(client, "PUT", "p_demo_1/session-time-limit", {"minutes": 240, "reason": "holiday"})
        state = r.json()["session_time_limit"]
        assert state["minutes"] == 60 and state["pending"]["minutes"] == 240
        waits = datetime.fromisoformat(state["pending"]["effective_from"]) - timezone.now()
        assert timedelta(hours=23, minutes=59) < waits <= timedelta(hours=24)
        r = json_call(client, "DELETE", "p_demo_1/session-time-limit?reason=no+longer")
        assert r.json()["session_time_limit"]["pending"]["minutes"] is None
        audit = PlayerAuditLog.objects.filter(field__startswith="session_time_limit")
        assert {row.changed_by for row in audit} == {"operator:sandbox"}

    @pytest.mark.parametrize(
        "body", [{"minutes": 0}, {"minutes": 1441}, {"minutes": "60"}, {"minutes": 1.5}, {}, {"minutes": None}]
    )
    def test_bad_minutes_are_a_validation_error(self, client, sandbox, body):
        r = json_call(client, "PUT", "p_demo_1/session-time-limit", body)
        assert r.status_code == 400 and r.json()["code"] == "VALIDATION_ERROR", r.content
        assert "minutes" in json.dumps(r.json())
        assert not SessionTimeLimit.objects.exists()

    def test_unknown_player_and_missing_token(self, client, sandbox):
        r = json_call(client, "PUT", "nobody/session-time-limit", {"minutes": 60})
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")
        r = json_call(client, "PUT", "p_demo_1/session-time-limit", {"minutes": 60}, headers={})
        assert r.status_code == 401

    def test_the_launch_answer_says_when_the_session_ends(self, client, sandbox):
        json_call(client, "PUT", "p_demo_1/session-time-limit", {"minutes": 30})
        r = client.post(
            "/api/v1/sessions",
            {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers=TOKEN,
        )
        assert r.status_code == 201, r.content
        body = r.json()
        ends_in = datetime.fromisoformat(body["ends_at"]) - timezone.now()
        assert timedelta(minutes=29) < ends_in <= timedelta(minutes=30)
        assert datetime.fromisoformat(body["expires_at"]) <= datetime.fromisoformat(body["ends_at"])


@pytest.mark.django_db(transaction=True)
def test_over_http_the_debit_after_the_session_s_end_is_refused_and_the_win_still_paid(live_server, monkeypatch):
    """The casino sets the limit, the provider's calls meet it; both over a socket."""
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    http = requests.Session()
    http.headers.update(TOKEN)
    token = launch()  # before the limit: the stricter limit brings it forward
    r = http.put(f"{live_server.url}/api/v1/players/p_demo_1/session-time-limit", json={"minutes": 20}, timeout=10)
    assert r.status_code == 200, r.text
    wallet = ProviderClient(base_url=live_server.url, session=requests.Session())
    assert wallet.post("debit", debit(token, tx="st-1", amount=500, round_id="st1")).status == 200
    later = timezone.now() + timedelta(minutes=21)
    monkeypatch.setattr(clock, "now", lambda: later)
    refused = wallet.post("debit", debit(token, tx="st-2", amount=500, round_id="st2"))
    assert (refused.status, refused.body["code"]) == (401, "SESSION_EXPIRED")
    win = {
        "transaction_id": "st-win",
        "player_id": "p_demo_1",
        "round_id": "st1",
        "game_id": "sandbox:dice",
        "amount": 1_200,
        "currency": "EUR",
        "reason": "win",
    }
    paid = wallet.post("credit", win)
    assert paid.status == 200 and paid.body["balance"] == 100_000 - 500 + 1_200


class TestAdmin:
    def test_support_sets_and_sees_the_limit(self, admin_client, sandbox):
        page = admin_client.get(reverse("admin:players_player_change", args=[player().pk])).content.decode()
        assert "Set a session time limit…" in page
        url = reverse("admin:players_player_session_time_limit", args=[player().pk])
        assert "No session time limit is set" in admin_client.get(url).content.decode()
        r = admin_client.post(url, {"minutes": "45", "reason": "asked by phone"})
        assert r.status_code == 302
        assert messages_of(r) == ["The session time limit is 45 minutes, in force now; open sessions end within it."]
        r = admin_client.post(url, {"minutes": "90", "reason": "asked by phone"})
        assert messages_of(r)[-1].startswith("The session time limit stays 45 minutes until ")
        page = admin_client.get(reverse("admin:players_player_change", args=[player().pk])).content.decode()
        assert "45 minutes" in page and "90 minutes from" in page
        r = admin_client.post(url, {"minutes": "30", "remove": "on", "reason": "x"})
        assert r.status_code == 200 and "not both" in r.content.decode()

    def test_staff_without_the_permission_are_turned_away(self, client, django_user_model, sandbox):
        clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
        clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_player", "change_player"]))
        client.force_login(clerk)
        url = reverse("admin:players_player_session_time_limit", args=[player().pk])
        r = client.post(url, {"minutes": "45", "reason": "x"})
        assert messages_of(r) == ["You may not change players' session time limits."]
        assert not SessionTimeLimit.objects.exists()


def _in_threads(*calls):
    """Run the calls at once, each in its own thread and database connection; their errors."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        try:
            call()
            return None
        except Exception as exc:  # what the test asserts on
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [error for error in pool.map(run, calls) if error is not None]


@pytest.mark.django_db(transaction=True)
def test_launches_racing_a_stricter_limit_all_end_within_it():
    """Launches and a new limit race on real PostgreSQL: whichever commits first, every
    session the player has afterwards ends within the limit."""
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    for attempt in range(5):
        minutes = 60 - attempt
        errors = _in_threads(*[launch] * 4, lambda minutes=minutes: set_limit(minutes))
        assert errors == []
        lengths = [session_length(s) for s in GameSession.objects.filter(closed_at__isnull=True)]
        assert len(lengths) == 4 * (attempt + 1) and max(lengths) <= timedelta(minutes=minutes), lengths


@pytest.mark.django_db(transaction=True)
def test_a_stricter_limit_while_the_player_bets_does_not_deadlock():
    """A debit slides its session (a row lock on it) before it locks the player; a new limit
    locks the player's open sessions before the player. Run together again and again on real
    PostgreSQL, neither waits for the other in a cycle."""
    from provider.models import Provider
    from wallet.services import DebitRequest, wallet_debit

    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    provider = Provider.objects.get(code="sandbox")
    tokens = [launch(), launch()]
    for n in range(12):
        # Each debit slides its session (last seen over a minute ago), so it writes the row first.
        GameSession.objects.update(last_seen_at=timezone.now() - timedelta(minutes=2))
        bets = [
            lambda token=token, i=i, n=n: wallet_debit(
                provider=provider,
                request=DebitRequest(
                    transaction_id=f"dl-{n}-{i}",
                    round_id=f"dl-{n}-{i}",
                    game_id="sandbox:dice",
                    amount=10,
                    currency="EUR",
                    session_token=token,
                ),
            )
            for i, token in enumerate(tokens)
        ]
        assert _in_threads(*bets, lambda n=n: set_limit(600 - n)) == []
    assert Player.objects.get(player_id="p_demo_1").wallets.get(currency_id="EUR").balance == 100_000 - 12 * 2 * 10
