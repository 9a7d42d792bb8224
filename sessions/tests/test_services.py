from datetime import timedelta

import pytest

from casino_platform import clock
from casino_platform.errors import Maintenance
from players.errors import PlayerBlocked
from players.services import player_block
from players.tests.factories import PlayerFactory
from provider.tests.factories import GameFactory
from sessions.errors import SessionExpired, SessionNotFound
from sessions.models import GameSession
from sessions.services import platform_switch_set, session_close, session_create, session_resolve
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def launched(settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 600
    settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS = 1800
    game = GameFactory()
    wallet = funded_wallet(amount=100)
    session, token = session_create(provider=game.provider, player=wallet.player, game=game, currency="EUR")
    return session, token


def at(monkeypatch, when):
    monkeypatch.setattr(clock, "now", lambda: when)


def test_only_the_token_hash_is_stored(launched):
    session, token = launched
    assert token not in GameSession.objects.values_list("token_hash", flat=True)
    assert session_resolve(token=token, provider=session.provider).pk == session.pk
    with pytest.raises(SessionNotFound):
        session_resolve(token=token + "x", provider=session.provider)


def test_expiry_slides_on_activity_up_to_the_absolute_cap(launched, monkeypatch):
    session, token = launched
    start = session.created_at
    # Active every 9 minutes: the 10-minute idle expiry keeps sliding ...
    for minutes in (9, 18, 27):
        at(monkeypatch, start + timedelta(minutes=minutes))
        session_resolve(token=token, provider=session.provider)
    session.refresh_from_db()
    assert session.expires_at == session.absolute_expires_at  # ... but never past the 30-minute cap
    at(monkeypatch, start + timedelta(minutes=30, seconds=1))
    with pytest.raises(SessionExpired):
        session_resolve(token=token, provider=session.provider)


def test_idle_session_expires(launched, monkeypatch):
    session, token = launched
    at(monkeypatch, session.created_at + timedelta(minutes=10, seconds=1))
    with pytest.raises(SessionExpired):
        session_resolve(token=token, provider=session.provider)


def test_closed_session_is_expired(launched):
    session, token = launched
    session_close(session=session)
    with pytest.raises(SessionExpired):
        session_resolve(token=token, provider=session.provider)


def test_launch_refuses_blocked_players_and_honours_switches():
    game = GameFactory()
    wallet = funded_wallet(player=PlayerFactory(), amount=100)
    platform_switch_set(name="no_new_sessions", is_on=True, changed_by="ops")
    with pytest.raises(Maintenance):
        session_create(provider=game.provider, player=wallet.player, game=game, currency="EUR")
    platform_switch_set(name="no_new_sessions", is_on=False, changed_by="ops")
    blocked = player_block(player=wallet.player, changed_by="ops", reason="")
    with pytest.raises(PlayerBlocked):
        session_create(provider=game.provider, player=blocked, game=game, currency="EUR")
