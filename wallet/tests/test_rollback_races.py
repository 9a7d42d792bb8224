"""A rollback whose debit is booked while it waits for the player, raced on real PostgreSQL
with each call in its own thread and connection, the lock queue staged by the test."""

import pytest
from django.db import transaction

from casino_platform.errors import ServiceUnavailable
from casino_platform.tests.lock_stages import Holding, Started, until_sessions_wait
from casino_platform.tests.locks import player_locked
from ledger.models import IdempotencyRecord, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from provider.models import Game
from provider.tests.factories import GameFactory, ProviderFactory
from sessions.services import session_create
from wallet.models import RollbackTombstone, Wallet
from wallet.services import wallet_debit, wallet_rollback
from wallet.services.common import WalletResult
from wallet.tests.conftest import debit_request, rollback_request
from wallet.tests.factories import funded_wallet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture(params=["in_database", "python"])
def in_database(request, settings) -> bool:
    """Both rollbacks: PostgreSQL's wallet_rollback_v1 (which hands a debit it cannot find to
    the Python path) with the provider's debit function, and the Python paths throughout."""
    settings.WALLET_ROLLBACK_IN_DATABASE = request.param == "in_database"
    settings.WALLET_DEBIT_IN_DATABASE = request.param == "in_database"
    return request.param == "in_database"


@pytest.fixture
def wallet():
    GameFactory(provider=ProviderFactory())
    return funded_wallet(amount=1_000)


def bet(wallet, *, in_database: bool, amount: int, round_id: str):
    """A debit as the path under test takes it: a provider's (a session token, the database's
    function) or a trusted caller's (by player id, the Python path)."""
    if not in_database:
        return debit_request(wallet, amount=amount, round_id=round_id)
    game = Game.objects.get()
    token = session_create(provider=game.provider, player=wallet.player, game=game, currency=wallet.currency_id)[1]
    return debit_request(wallet, amount=amount, round_id=round_id, session_token=token)


def test_a_rollback_whose_debit_is_booked_while_it_waits_answers_503_when_another_debit_holds_the_wallet(
    wallet, in_database
):
    """The rollback finds no debit and locks only the player; the debit commits meanwhile, and
    a second debit of the wallet takes the wallet and queues for the player behind the
    rollback. Taking the wallet then (after the player) would close a cycle: the rollback
    tries it without waiting and answers SERVICE_UNAVAILABLE (retryable), writing nothing,
    while the second debit goes through without a deadlock. Retried, the rollback is made."""
    provider = Game.objects.get().provider
    player_id = wallet.player.player_id
    booked = bet(wallet, in_database=in_database, amount=300, round_id="booked-late")
    second = bet(wallet, in_database=in_database, amount=200, round_id="next")
    rollback = rollback_request(wallet, reference=booked.transaction_id, round_id="booked-late")

    with transaction.atomic():
        player_locked(player_id)
        debit = Started(lambda: wallet_debit(provider=provider, request=booked), "the debit")
        until_sessions_wait(1, "the debit to hold the wallet and wait for the player", calls=[debit])
        # Queued for the player between the debit and the rollback: it has the player once the
        # debit commits, so the second debit can take the wallet before the rollback goes on.
        ahead = Holding(lambda: player_locked(player_id), "a session queued for the player")
        until_sessions_wait(2, "a session to queue for the player behind the debit", calls=[debit])
        rolling_back = Started(lambda: wallet_rollback(provider=provider, request=rollback), "the rollback")
        until_sessions_wait(3, "the rollback to queue for the player", calls=[debit, rolling_back])
    assert isinstance(debit.answer(), WalletResult), debit.answer()
    ahead.until_held()
    holder = Started(lambda: wallet_debit(provider=provider, request=second), "the second debit")
    until_sessions_wait(2, "the second debit to hold the wallet and queue for the player", calls=[holder, rolling_back])
    ahead.release()

    went_through = holder.answer()
    assert isinstance(went_through, WalletResult) and went_through.balance == 1_000 - 300 - 200, went_through
    refused = rolling_back.answer()
    assert isinstance(refused, ServiceUnavailable), refused
    assert (refused.code, refused.http_status, refused.retryable) == ("SERVICE_UNAVAILABLE", 503, True)
    assert refused.message == "The referenced debit is being booked right now; retry."
    # Nothing of the rollback's: no journal entry, no tombstone, and no stored answer (a
    # retryable refusal is not the key's final answer).
    assert not JournalTransaction.objects.filter(provider_transaction_id=rollback.transaction_id).exists()
    assert not JournalTransaction.objects.filter(reverses__provider_transaction_id=booked.transaction_id).exists()
    assert not RollbackTombstone.objects.exists()
    assert not IdempotencyRecord.objects.filter(scope=provider.code, key=rollback.transaction_id).exists()
    assert Wallet.objects.get(pk=wallet.pk).balance == 500
    assert ledger_reconcile().ok

    retried = wallet_rollback(provider=provider, request=rollback)
    assert (retried.status, retried.balance) == ("rolled_back", 800)
    assert ledger_reconcile().ok
