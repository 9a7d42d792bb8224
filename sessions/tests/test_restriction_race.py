"""A provider's country restriction while a player of that country bets, raced on real
PostgreSQL over a socket, each request in its own thread and connection, the lock queue staged
by the test: the restriction holds the provider's row, then waits for the session it closes,
which the bet slid; the bet, going on, opens its round, whose foreign key takes a key share of
the provider's row. Neither may wait for the other in a cycle."""

import io
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from casino_platform.tests.lock_stages import Started, until_sessions_wait
from casino_platform.tests.locks import player_locked
from ledger.reconciliation import ledger_reconcile
from provider.models import Provider
from sessions.models import GameSession, Round
from sessions.services import restricted_countries_change
from wallet.tests.api_client import ProviderClient, debit_payload, launch
from wallet.tests.test_cashier import balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def bet(live_server, token: str, tx: str) -> tuple[int, str]:
    with requests.Session() as http:
        wallet = ProviderClient(base_url=live_server.url, session=http)
        answer = wallet.post("debit", debit_payload(token, tx, 1_000))
    return answer.status, answer.body.get("code", "OK")


@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_a_provider_s_restriction_and_a_bet_it_ends_do_not_deadlock(live_server, settings, in_database):
    """The bet slides its session, then queues for the player (held by the test). The
    restriction of the player's country (MT) locks the provider's row and queues for that
    session. Released, the bet opens its round: with the provider's row locked FOR UPDATE it
    waited for the restriction, which waited for it, and PostgreSQL aborted one of them (the
    bet answered 503, or staff's save failed). FOR NO KEY UPDATE lets the round's key share
    through: the bet is taken, as it passed its session's check before the restriction, and
    the restriction closes the session after it."""
    settings.WALLET_DEBIT_IN_DATABASE = in_database
    call_command("seed_sandbox", stdout=io.StringIO())
    token = launch("p_demo_1")  # a player of MT
    # Last seen over a minute ago: the bet slides its session, so it holds the session's row.
    GameSession.objects.update(last_seen_at=timezone.now() - timedelta(minutes=2))
    provider = Provider.objects.get(code="sandbox")

    with transaction.atomic():
        player_locked("p_demo_1")
        racing = Started(lambda: bet(live_server, token, "restricted-meanwhile"), "the bet")
        until_sessions_wait(1, "the bet to slide its session and wait for the player", calls=[racing])
        restriction = Started(
            lambda: restricted_countries_change(target=provider, add=["MT"], changed_by="staff:ana", reason="licence"),
            "the restriction",
        )
        until_sessions_wait(
            2, "the restriction to lock the provider and wait for the session", calls=[racing, restriction]
        )

    assert racing.answer() == (200, "OK")
    assert restriction.answer() == ([], ["MT"], 1)
    assert Round.objects.filter(round_id="r-restricted-meanwhile").exists()
    assert GameSession.objects.get().closed_at is not None
    assert bet(live_server, token, "after") == (401, "SESSION_EXPIRED")
    assert balance() == 100_000 - 1_000
    assert ledger_reconcile().ok
