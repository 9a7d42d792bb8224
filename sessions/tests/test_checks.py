"""An idle timeout that play cannot slide stops every command and the server at start: play
slides a session's expiry at most once a minute, so under one of 45 s a session played every
30 s expired 45 s after its launch."""

import pytest
from django.core.checks import run_checks


def check_ids() -> set[str]:
    return {m.id for m in run_checks()}


@pytest.mark.parametrize("seconds", [45, 60])
def test_an_idle_timeout_of_a_minute_or_less_is_refused(settings, seconds):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = seconds
    assert "sessions.E001" in check_ids()


@pytest.mark.parametrize("seconds", [61, 1800])
def test_one_over_a_minute_is_not(settings, seconds):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = seconds
    assert "sessions.E001" not in check_ids()
