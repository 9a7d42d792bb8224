"""PostgreSQL's own guard on rounds: (player, currency) is a wallet of that player."""

import pytest
from django.db import IntegrityError, transaction

from ledger.tests.factories import CurrencyFactory
from provider.tests.factories import GameFactory
from sessions.models import Round
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db(transaction=True)


def _round(wallet, currency: str, round_id: str) -> Round:
    game = GameFactory()
    return Round.objects.create(
        provider=game.provider, round_id=round_id, player=wallet.player, currency_id=currency, game_id=game.game_id
    )


def test_a_round_in_a_wallet_of_its_player_is_accepted():
    wallet = funded_wallet(currency="EUR", amount=0)
    with transaction.atomic():
        _round(wallet, "EUR", "r-eur")
    assert Round.objects.filter(round_id="r-eur").exists()


def test_a_round_in_a_currency_its_player_has_no_wallet_in_is_refused_at_commit():
    wallet = funded_wallet(currency="EUR", amount=0)
    CurrencyFactory(code="USD", exponent=2)
    with pytest.raises(IntegrityError, match="round_in_a_wallet_of_its_player"), transaction.atomic():
        _round(wallet, "USD", "r-usd")
    assert not Round.objects.filter(round_id="r-usd").exists()


def test_the_wallet_may_come_later_in_the_same_transaction():
    """A credit in a new currency writes the round and creates the wallet in one transaction."""
    wallet = funded_wallet(currency="EUR", amount=0)
    with transaction.atomic():
        _round(wallet, "GBP", "r-gbp")
        funded_wallet(player=wallet.player, currency="GBP", amount=0)
    assert Round.objects.filter(round_id="r-gbp").exists()
