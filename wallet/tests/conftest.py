import itertools

import pytest

from provider.tests.conftest import broker  # noqa: F401 - the Celery broker, emptied, for a real worker
from provider.tests.factories import GameFactory, ProviderFactory
from wallet.services import CreditRequest, DebitRequest, RollbackRequest
from wallet.tests.factories import funded_wallet

_ids = itertools.count(1)


def next_tx(prefix: str = "tx") -> str:
    return f"{prefix}-{next(_ids)}"


@pytest.fixture
def provider(db):
    return ProviderFactory()


@pytest.fixture
def game(provider):
    return GameFactory(provider=provider)


@pytest.fixture
def wallet(db, game):
    return funded_wallet(amount=10_000)


def debit_request(wallet, *, amount=100, round_id="r1", tx=None, **kw) -> DebitRequest:
    return DebitRequest(
        transaction_id=next_tx("d") if tx is None else tx,
        round_id=round_id,
        game_id=kw.pop("game_id", "sandbox:dice"),
        amount=amount,
        currency=wallet.currency_id,
        player_id=wallet.player.player_id,
        **kw,
    )


def credit_request(wallet, *, amount=100, round_id="r1", tx=None, **kw) -> CreditRequest:
    return CreditRequest(
        transaction_id=next_tx("c") if tx is None else tx,
        player_id=wallet.player.player_id,
        round_id=round_id,
        game_id=kw.pop("game_id", "sandbox:dice"),
        amount=amount,
        currency=wallet.currency_id,
        **kw,
    )


def rollback_request(wallet, *, reference, round_id="r1", tx=None) -> RollbackRequest:
    return RollbackRequest(
        transaction_id=next_tx("rb") if tx is None else tx,
        reference_transaction_id=reference,
        player_id=wallet.player.player_id,
        round_id=round_id,
    )
