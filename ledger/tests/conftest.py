import io

import pytest
from django.core.management import call_command

from provider.models import Provider
from wallet.models import Wallet
from wallet.services import wallet_credit, wallet_debit
from wallet.tests.conftest import credit_request, debit_request


@pytest.fixture
def sandbox(db):
    """The seeded sandbox plus one round (debit ledger-d1, credit ledger-c1), so provider
    debits and credits are in the journal."""
    call_command("seed_sandbox", stdout=io.StringIO())
    provider = Provider.objects.get(code="sandbox")
    wallet = Wallet.objects.select_related("player").get(player__player_id="p_demo_1", currency_id="EUR")
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="ledger-r1", tx="ledger-d1"))
    wallet_credit(provider=provider, request=credit_request(wallet, amount=40, round_id="ledger-r1", tx="ledger-c1"))
    return provider
