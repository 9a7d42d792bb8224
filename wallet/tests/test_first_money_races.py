"""A player's first money in a currency, sent through several doors at once, raced on real
PostgreSQL with each call in its own thread and connection: one wallet opens, with one
ledger account, and every movement waits for it instead of failing on its keys."""

import pytest
from django.db import connection, transaction

from casino_platform.tests.lock_stages import Holding, Started, until_sessions_wait
from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import Account, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from ledger.tests.factories import CurrencyFactory
from players.models import Player
from players.tests.factories import PlayerFactory
from provider.models import Provider
from provider.tests.factories import GameFactory, ProviderFactory
from wallet.models import Wallet
from wallet.services import CreditRequest, cashier_deposit, wallet_credit, wallet_deposit
from wallet.services.common import WalletResult

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture
def provider() -> Provider:
    provider = ProviderFactory()
    GameFactory(provider=provider)
    return provider


@pytest.fixture
def player(provider) -> Player:
    """A player with euros and no dollar wallet yet."""
    CurrencyFactory(code="EUR")
    CurrencyFactory(code="USD")
    player = PlayerFactory()
    wallet_deposit(player_id=player.player_id, currency="EUR", amount=5_000, created_by="test", reason="fund")
    return player


def prize(provider: Provider, player: Player, n: int, amount: int) -> WalletResult:
    return wallet_credit(
        provider=provider,
        request=CreditRequest(
            transaction_id=f"prize-{n}",
            player_id=player.player_id,
            round_id=f"prize-round-{n}",
            game_id="sandbox:dice",
            amount=amount,
            currency="USD",
            reason="prize",
        ),
    )


def answered(call):
    """`call(n)` as a thread of together_behind_a_lock runs it: its answer or its exception,
    and its connection closed after it."""

    def run(n: int) -> object:
        try:
            return call(n)
        except Exception as exc:  # the answer the test asserts on
            return exc
        finally:
            connection.close()

    return run


def assert_one_usd_wallet(player: Player, balance: int) -> None:
    (wallet,) = Wallet.objects.filter(player=player, currency_id="USD")
    assert wallet.balance == balance
    (account,) = Account.objects.filter(key=f"wallet:{player.player_id}:USD")
    assert account.pk == wallet.account_id
    assert ledger_reconcile().ok


@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_a_first_credit_and_a_first_deposit_in_a_currency_side_by_side_open_one_wallet(
    provider, player, settings, in_database
):
    """A credit and a deposit, the player's first dollars both, waiting on the player's lock
    together: one opens the wallet, the other waits for it and pays into it. (The database's
    credit finds no wallet and hands the call to the Python path after its own wait.)"""
    settings.WALLET_CREDIT_IN_DATABASE = in_database

    def call(n: int) -> WalletResult:
        if n == 0:
            return prize(provider, player, n, 700)
        return wallet_deposit(player_id=player.player_id, currency="USD", amount=1_000, created_by="t", reason="in")

    answers = together_behind_a_lock(lambda: player_locked(player.player_id), answered(call), 2)
    assert all(isinstance(a, WalletResult) for a in answers), answers
    assert_one_usd_wallet(player, 1_700)


@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_first_money_in_a_currency_through_every_door_at_once_opens_one_wallet(provider, player, settings, in_database):
    """Eight first movements into dollars, all waiting on the player's lock at once: the
    cashier's deposits, staff's deposits (with a reference and without) and providers'
    credits. Each is answered (none trips the wallet's or the account's unique key), and the
    one wallet, with its one ledger account, holds their sum."""
    settings.WALLET_CREDIT_IN_DATABASE = in_database
    pid = player.player_id
    doors = [
        lambda n: cashier_deposit(
            player_id=pid, currency="USD", amount=100, reference=f"psp-{n}", operator="operator:sandbox", reason="card"
        ),
        lambda n: wallet_deposit(player_id=pid, currency="USD", amount=100, created_by="staff:ana", reason="desk"),
        lambda n: wallet_deposit(
            player_id=pid, currency="USD", amount=100, created_by="staff:bob", reason="desk", reference=f"slip-{n}"
        ),
        lambda n: prize(provider, player, n, 100),
    ]

    answers = together_behind_a_lock(lambda: player_locked(pid), answered(lambda n: doors[n % 4](n)), 8)
    assert all(isinstance(a, WalletResult) for a in answers), answers
    assert_one_usd_wallet(player, 800)
    assert JournalTransaction.objects.filter(entries__currency="USD").distinct().count() == 8


def test_a_credit_that_waited_while_a_deposit_opened_the_wallet_locks_it_before_paying_into_it(
    provider, player, settings
):
    """The credit finds no dollar wallet and waits for the player's row; meanwhile a deposit
    opens the wallet, and a third movement locks it (wallet, then player) and queues for the
    player behind the credit. The credit must lock the wallet it now sees in the usual order
    (wallet_lock_current) rather than pay into it under the player's lock alone, which would
    wait for the third movement while it waits for the credit: both are paid, no deadlock.
    The Python path: the database's credit hands a player with no wallet to it after its own
    wait, when the wallet is there to be locked."""
    settings.WALLET_CREDIT_IN_DATABASE = False
    pid = player.player_id

    def deposit(amount: int) -> WalletResult:
        return wallet_deposit(player_id=pid, currency="USD", amount=amount, created_by="t", reason="in")

    with transaction.atomic():
        player_locked(pid)
        first = Started(lambda: deposit(1_000), "the first dollar deposit")
        until_sessions_wait(1, "the first deposit to wait for the player", calls=[first])
        # Queued for the player between the deposit and the credit: it has the player once the
        # deposit commits, so the third movement can take the new wallet before the credit goes on.
        ahead = Holding(lambda: player_locked(pid), "a session queued for the player")
        until_sessions_wait(2, "a session to queue for the player behind the deposit", calls=[first])
        credit = Started(lambda: prize(provider, player, 1, 700), "the credit")
        until_sessions_wait(3, "the credit to queue for the player", calls=[first, credit])
    assert isinstance(first.answer(), WalletResult), first.answer()
    ahead.until_held()
    third = Started(lambda: deposit(500), "a deposit into the new wallet")
    until_sessions_wait(2, "the third movement to hold the wallet and queue for the player", calls=[third, credit])
    ahead.release()

    assert isinstance(third.answer(), WalletResult), third.answer()
    assert isinstance(credit.answer(), WalletResult), credit.answer()
    assert_one_usd_wallet(player, 1_000 + 700 + 500)


def test_a_credit_refused_after_another_call_opened_its_round_leaves_no_wallet(provider, player):
    """The credit found no round and opened the wallet to record one; another player's call
    had opened the round meanwhile, and on reading it again the credit is refused. The
    wallet it opened for the round goes with the refusal, as any refused credit's."""
    from django.utils import timezone

    from sessions.errors import RoundNotFound
    from sessions.models import Round

    other = PlayerFactory()
    wallet_deposit(player_id=other.player_id, currency="USD", amount=100, created_by="test", reason="fund")

    def open_the_round() -> None:
        Round.objects.create(
            provider=provider, round_id="prize-round-1", player=other, currency_id="USD",
            game_id="sandbox:dice", opened_at=timezone.now(),
        )  # fmt: skip

    holder = Holding(open_the_round, "another player's call opening the round")
    holder.until_held()
    credit = Started(lambda: prize(provider, player, 1, 700), "the first credit in dollars")
    until_sessions_wait(1, "the credit to wait for the round's key", calls=[credit])
    holder.release()
    assert isinstance(credit.answer(), RoundNotFound), credit.answer()
    assert not Wallet.objects.filter(player=player, currency_id="USD").exists()
    assert not Account.objects.filter(key=f"wallet:{player.player_id}:USD").exists()
    assert ledger_reconcile().ok
