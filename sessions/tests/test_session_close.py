"""POST /api/v1/sessions/{id}/close: a session is closed once, and every answer, a repeat or
a close that raced another, gives that first close's time."""

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command

from casino_platform import clock
from players.models import Player
from players.services import player_sessions_close
from sessions.api import views
from sessions.models import GameSession
from sessions.tests.test_game_catalogue import TOKEN, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 1800
    call_command("seed_sandbox", stdout=io.StringIO())


def at(moment):
    return mock.patch("casino_platform.clock.now", return_value=moment)


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_repeated_close_answers_the_first_close_s_time(client, sandbox):
    t0 = clock.now()
    with at(t0):
        session_id = start(client, "p_demo_1").json()["session_id"]
    with at(t0 + timedelta(minutes=1)):
        first = client.post(f"/api/v1/sessions/{session_id}/close", headers=TOKEN)
    with at(t0 + timedelta(minutes=2)):
        again = client.post(f"/api/v1/sessions/{session_id}/close", headers=TOKEN)
    assert first.status_code == again.status_code == 200
    assert first.json()["closed_at"] == again.json()["closed_at"] == iso(t0 + timedelta(minutes=1))


def test_a_close_that_read_the_session_open_and_lost_a_race_keeps_the_winner_s_time(client, sandbox, monkeypatch):
    """The casino's close read the session open; the player's logout closed it before the
    close wrote. The close used to write its own, later, time over the logout's: a session
    closed before its idle expiry could so be moved past it, and read `expired` from then on."""
    t0 = clock.now()
    with at(t0):
        session_id = start(client, "p_demo_1").json()["session_id"]
    logout_at = t0 + timedelta(minutes=29)  # before the idle expiry at 30
    real_get = views.session_get

    def read_then_logout(*, session_id):
        session = real_get(session_id=session_id)  # read open
        with at(logout_at):
            assert player_sessions_close(player=Player.objects.get(player_id="p_demo_1")) == 1
        return session

    monkeypatch.setattr(views, "session_get", read_then_logout)
    with at(t0 + timedelta(minutes=31)):  # the close writes after the idle expiry
        r = client.post(f"/api/v1/sessions/{session_id}/close", headers=TOKEN)
    assert r.status_code == 200, r.content
    assert r.json()["closed_at"] == iso(logout_at)
    assert GameSession.objects.get(pk=session_id).closed_at == logout_at
    monkeypatch.setattr(views, "session_get", real_get)
    with at(t0 + timedelta(minutes=40)):
        body = client.get(f"/api/v1/sessions/{session_id}", headers=TOKEN).json()
    assert (body["state"], body["ended_at"]) == ("closed", iso(logout_at))
