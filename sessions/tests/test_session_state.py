"""GET /api/v1/sessions/{id}: where a game session stands, for the front end's clock: open,
closed, expired for want of play, or ended at its end (which a stricter limit brings forward
after the launch)."""

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command

from casino_platform import clock
from players.models import Player
from players.services import player_set_session_time_limit
from sessions.models import GameSession
from sessions.selectors import session_state
from sessions.tests.test_game_catalogue import TOKEN, start
from wallet.tests.api_client import launch as launch_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS = 4 * 3600
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 1800
    call_command("seed_sandbox", stdout=io.StringIO())


def launch(client) -> str:
    r = start(client, "p_demo_1")
    assert r.status_code == 201, r.content
    return r.json()["session_id"]


def state(client, session_id: str) -> dict:
    r = client.get(f"/api/v1/sessions/{session_id}", headers=TOKEN)
    assert r.status_code == 200, r.content
    return r.json()


def at(moment):
    return mock.patch("casino_platform.clock.now", return_value=moment)


class TestSessionState:
    def test_an_open_session_with_its_end_and_the_time_left(self, client, sandbox):
        session_id = launch(client)
        body = state(client, session_id)
        session = GameSession.objects.get(pk=session_id)
        assert {k: body[k] for k in ("session_id", "player_id", "game_id", "currency", "state", "ended_at")} == {
            "session_id": session_id,
            "player_id": "p_demo_1",
            "game_id": "sandbox:dice",
            "currency": "EUR",
            "state": "open",
            "ended_at": None,
        }
        assert 4 * 3600 - 5 <= body["seconds_left"] <= 4 * 3600
        assert body["ends_at"] == session.absolute_expires_at.isoformat().replace("+00:00", "Z")

    def test_a_stricter_limit_set_after_the_launch_shows_in_its_end(self, client, sandbox):
        session_id = launch(client)
        player_set_session_time_limit(
            player=Player.objects.get(player_id="p_demo_1"), minutes=30, changed_by="support", reason="asked"
        )
        body = state(client, session_id)
        assert body["state"] == "open" and 30 * 60 - 5 <= body["seconds_left"] <= 30 * 60

    def test_closed_by_the_casino(self, client, sandbox):
        session_id = launch(client)
        closed = client.post(f"/api/v1/sessions/{session_id}/close", headers=TOKEN).json()
        body = state(client, session_id)
        assert (body["state"], body["ended_at"], body["seconds_left"]) == ("closed", closed["closed_at"], 0)

    def test_expired_for_want_of_play_and_ended_at_its_end(self, sandbox):
        start = clock.now()
        with at(start):
            launch_service("p_demo_1")
        session = GameSession.objects.get()
        idle = session_state(session=session, now=start + timedelta(minutes=31))
        assert (idle["state"], idle["ended_at"], idle["seconds_left"]) == ("expired", session.expires_at, 0)
        # Played until its end: the idle expiry had moved on to the end itself.
        GameSession.objects.filter(pk=session.pk).update(expires_at=session.absolute_expires_at)
        session.refresh_from_db()
        over = session_state(session=session, now=session.absolute_expires_at)
        assert (over["state"], over["ended_at"]) == ("ended", session.absolute_expires_at)

    def test_an_end_brought_before_the_idle_expiry_is_an_end(self, sandbox):
        launch_service("p_demo_1")
        session = GameSession.objects.get()
        end = session.created_at + timedelta(minutes=10)  # a limit's end, before the idle half hour
        GameSession.objects.filter(pk=session.pk).update(absolute_expires_at=end)
        session.refresh_from_db()
        assert session.expires_at > end
        body = session_state(session=session, now=end + timedelta(seconds=1))
        assert (body["state"], body["ended_at"]) == ("ended", end)
        before = session_state(session=session, now=end - timedelta(seconds=90))
        assert (before["state"], before["seconds_left"]) == ("open", 90)

    def test_closed_after_it_had_expired_stays_expired(self, client, sandbox):
        session_id = launch(client)
        session = GameSession.objects.get(pk=session_id)
        with at(session.expires_at + timedelta(minutes=5)):
            client.post(f"/api/v1/sessions/{session_id}/close", headers=TOKEN)
            body = state(client, session_id)
        assert (body["state"], body["ended_at"]) == (
            "expired",
            session.expires_at.isoformat().replace("+00:00", "Z"),
        )

    def test_no_such_session_and_no_token(self, client, sandbox):
        missing = client.get("/api/v1/sessions/999999", headers=TOKEN)
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
        assert client.get("/api/v1/sessions/1").status_code == 401
