"""Races against real PostgreSQL with real threads: each thread has its own connection."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from queue import Queue

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from casino_platform.errors import DomainError
from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import IdempotencyRecord, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from ledger.services import Leg, ledger_account_get_or_create, ledger_post
from provider.models import Game
from provider.tests.conftest import wait_for
from provider.tests.factories import GameFactory, ProviderFactory
from sessions.services import session_create
from wallet.models import Wallet
from wallet.services import wallet_credit, wallet_debit, wallet_rollback
from wallet.services.common import wallet_apply, wallet_lock
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def race(calls: list[Callable[[], object]]) -> list[object]:
    """Start every call at the same moment; return each result or the exception it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        try:
            barrier.wait()
            return call()
        except Exception as exc:  # collected and asserted on by the test
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def race_behind_the_players_lock(player_id: str, calls: list[Callable[[], object]]) -> list[object]:
    """Stage every call waiting for the player's lock, held by the test, and release them
    together: they provably overlap. Each result or the exception it raised."""

    def run(i: int) -> object:
        try:
            return calls[i]()
        except Exception as exc:  # collected and asserted on by the test
            return exc
        finally:
            connection.close()

    return together_behind_a_lock(lambda: player_locked(player_id), run, len(calls))


@pytest.fixture
def setup():
    provider = ProviderFactory()
    GameFactory(provider=provider)
    return provider, funded_wallet(amount=1_000)


@pytest.fixture(params=["in_database", "python"])
def make_debit(request, setup, settings):
    """Every race runs against both debits: PostgreSQL's wallet_debit_v1 (a provider's call,
    with a session token) and the Python path (a trusted caller's, by player id); and against
    both credits and both rollbacks, PostgreSQL's functions and the Python paths."""
    provider, _ = setup
    if request.param == "python":
        settings.WALLET_CREDIT_IN_DATABASE = False
        settings.WALLET_ROLLBACK_IN_DATABASE = False
        return debit_request
    game = Game.objects.get(provider=provider)
    tokens: dict[str, str] = {}

    def make(wallet, **kw):
        key = wallet.currency_id
        if key not in tokens:
            tokens[key] = session_create(provider=provider, player=wallet.player, game=game, currency=key)[1]
        return debit_request(wallet, session_token=tokens[key], **kw)

    return make


def codes(results: list[object]) -> Counter[str]:
    return Counter(r.code if isinstance(r, DomainError) else type(r).__name__ for r in results)


def test_parallel_debits_never_overdraw(setup, make_debit):
    provider, wallet = setup
    requests = [make_debit(wallet, amount=100, round_id=f"r{i}") for i in range(20)]
    results = race([lambda r=r: wallet_debit(provider=provider, request=r) for r in requests])
    assert codes(results) == Counter({"WalletResult": 10, "INSUFFICIENT_FUNDS": 10})
    assert Wallet.objects.get(pk=wallet.pk).balance == 0
    assert ledger_reconcile().ok


def test_identical_requests_racing_move_money_once(setup, make_debit):
    provider, wallet = setup
    request = make_debit(wallet, amount=250, tx="dup-1")
    results = race([lambda: wallet_debit(provider=provider, request=request) for _ in range(12)])
    assert all(not isinstance(r, Exception) for r in results), results
    assert len({tuple(sorted(r.as_body().items())) for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert Wallet.objects.get(pk=wallet.pk).balance == 750
    assert JournalTransaction.objects.filter(provider_transaction_id="dup-1").count() == 1
    assert ledger_reconcile().ok


def test_identical_rollbacks_and_credits_racing_move_money_once(setup, make_debit):
    provider, wallet = setup
    debit = make_debit(wallet, amount=300, round_id="rr")
    wallet_debit(provider=provider, request=debit)
    rollback = rollback_request(wallet, reference=debit.transaction_id, round_id="rr")
    credit = credit_request(wallet, amount=40, round_id="prize-round", reason="prize")
    results = race(
        [lambda: wallet_rollback(provider=provider, request=rollback) for _ in range(5)]
        + [lambda: wallet_credit(provider=provider, request=credit) for _ in range(5)]
    )
    assert all(not isinstance(r, Exception) for r in results), results
    assert Wallet.objects.get(pk=wallet.pk).balance == 1_000 + 40
    assert ledger_reconcile().ok


@pytest.mark.parametrize("attempt", range(5))
def test_rollback_racing_a_credit_on_the_same_round_leaves_balanced_books(setup, attempt, make_debit):
    provider, wallet = setup
    debit = make_debit(wallet, amount=200, round_id="race")
    wallet_debit(provider=provider, request=debit)
    rollback_result, credit_result = race_behind_the_players_lock(
        wallet.player.player_id,
        [
            lambda: wallet_rollback(
                provider=provider, request=rollback_request(wallet, reference=debit.transaction_id, round_id="race")
            ),
            lambda: wallet_credit(provider=provider, request=credit_request(wallet, amount=500, round_id="race")),
        ],
    )
    balance = Wallet.objects.get(pk=wallet.pk).balance
    # One of the two takes effect, never both (docs/decisions.md, "A win after a rollback").
    if isinstance(rollback_result, DomainError):
        # The credit won: the debit stands, the win is paid and the rollback was refused.
        assert rollback_result.code == "ROLLBACK_NOT_ALLOWED"
        assert not isinstance(credit_result, Exception), credit_result
        assert balance == 1_000 - 200 + 500
    else:
        # The rollback won: the debit is cancelled, and a win on a cancelled bet pays nothing.
        assert rollback_result.status == "rolled_back"
        assert isinstance(credit_result, DomainError) and credit_result.code == "ROUND_NOT_FOUND", credit_result
        assert balance == 1_000
    assert ledger_reconcile().ok


def test_debits_and_credits_of_one_player_do_not_deadlock(setup, make_debit):
    provider, wallet = setup
    usd = funded_wallet(player=wallet.player, currency="USD", amount=1_000)
    calls: list[Callable[[], object]] = []
    for i in range(12):
        for w in (wallet, usd):
            d = make_debit(w, amount=10, round_id=f"{w.currency_id}-{i}")
            c = credit_request(w, amount=15, round_id=f"{w.currency_id}-{i}")
            calls.append(
                lambda d=d, c=c: (
                    wallet_debit(provider=provider, request=d),
                    wallet_credit(provider=provider, request=c),
                )
            )
            calls.append(
                lambda w=w, i=i: wallet_credit(
                    provider=provider,
                    request=credit_request(w, amount=1, round_id=f"bonus-{w.currency_id}-{i}", reason="bounty"),
                )
            )
    results = race(calls)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Wallet.objects.get(pk=wallet.pk).balance == 1_000 + 12 * (5 + 1)
    assert Wallet.objects.get(pk=usd.pk).balance == 1_000 + 12 * (5 + 1)
    assert ledger_reconcile().ok


def test_tombstone_racing_its_debit_never_moves_money_twice(setup, make_debit):
    provider, wallet = setup
    for i in range(5):
        debit = make_debit(wallet, amount=100, round_id=f"tomb-{i}")
        rollback = rollback_request(wallet, reference=debit.transaction_id, round_id=f"tomb-{i}")
        debit_result, rollback_result = race_behind_the_players_lock(
            wallet.player.player_id,
            [
                lambda debit=debit: wallet_debit(provider=provider, request=debit),
                lambda rollback=rollback: wallet_rollback(provider=provider, request=rollback),
            ],
        )
        if isinstance(debit_result, DomainError):
            assert debit_result.code == "TRANSACTION_ROLLED_BACK"
            assert rollback_result.status == "tombstone"
        else:
            assert not isinstance(debit_result, Exception), debit_result
            assert rollback_result.status == "rolled_back"
    assert Wallet.objects.get(pk=wallet.pk).balance == 1_000
    assert ledger_reconcile().ok


def test_a_storm_of_every_movement_on_one_player_never_deadlocks(setup, make_debit):
    """Debits, credits, rollbacks (of booked and of unknown debits) and back-office deposits
    of one player at once: each takes the same lock in the same order, so none deadlocks."""
    from wallet.services import wallet_deposit

    provider, wallet = setup
    booked = [make_debit(wallet, amount=10, round_id=f"b{i}") for i in range(6)]
    for d in booked:
        wallet_debit(provider=provider, request=d)
    calls: list[Callable[[], object]] = []
    for i in range(6):
        calls.append(
            lambda i=i: wallet_debit(provider=provider, request=make_debit(wallet, amount=5, round_id=f"s{i}"))
        )
        calls.append(
            lambda i=i: wallet_credit(
                provider=provider, request=credit_request(wallet, amount=7, round_id=f"p{i}", reason="prize")
            )
        )
        calls.append(
            lambda d=booked[i]: wallet_rollback(
                provider=provider, request=rollback_request(wallet, reference=d.transaction_id, round_id=d.round_id)
            )
        )
        calls.append(
            lambda i=i: wallet_rollback(
                provider=provider, request=rollback_request(wallet, reference=f"ghost-{i}", round_id=f"g{i}")
            )
        )
        calls.append(
            lambda i=i: wallet_deposit(
                player_id=wallet.player.player_id, currency="EUR", amount=3, created_by="t", reason="storm"
            )
        )
    results = race(calls)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Wallet.objects.get(pk=wallet.pk).balance == 1_000 - 6 * 5 + 6 * 7 + 6 * 3
    assert ledger_reconcile().ok


def signal_when_the_debit_waits(locked: threading.Event, debit_waits: threading.Event, debit_pid: Queue) -> None:
    """Once a movement holds the lock (`locked`), wait until the debit's session (its backend
    pid put in `debit_pid`), calling the platform's debit function, waits for a lock in this
    test's database, then set `debit_waits`."""
    pid = debit_pid.get(timeout=30)

    def debit_is_waiting_for_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid = %s"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                [pid, "%wallet_debit_v3%"],
            )
            return bool(cursor.fetchone()[0])

    assert locked.wait(30)
    try:
        wait_for(debit_is_waiting_for_a_lock, timeout=30, interval=0.01, message="the debit to wait for the lock")
        debit_waits.set()
    finally:
        connection.close()


def backend_pid() -> int:
    """This thread's PostgreSQL session, connected now if it was not yet."""
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def test_a_debit_refused_by_a_movement_that_held_the_lock_is_handed_back(setup):
    """wallet_debit_v3, finding the wallet lock held, writes the ledger before it waits for the
    lock when the unlocked rows promise an accepted debit (v2's order). A withdrawal holding
    the lock empties the wallet meanwhile: the debit must undo itself (SQLSTATE CW001) and
    wallet_debit_v1 must store the refusal."""
    provider, wallet = setup
    game = Game.objects.get(provider=provider)
    token = session_create(provider=provider, player=wallet.player, game=game, currency=wallet.currency_id)[1]
    # A first debit creates the provider's clearing account (v3 never creates it early).
    wallet_debit(provider=provider, request=debit_request(wallet, amount=10, round_id="first", session_token=token))
    request = debit_request(wallet, amount=10, round_id="raced", session_token=token)
    locked, debit_waits, debit_pid = threading.Event(), threading.Event(), Queue(maxsize=1)

    def withdraw_everything() -> None:
        try:
            with transaction.atomic():
                _, held = wallet_lock(player_id=wallet.player.player_id, currency=wallet.currency_id)
                cash_out = ledger_account_get_or_create(key="cash_out:EUR", kind="cash_out", currency="EUR")
                everything = held.balance
                wallet_apply(wallet=held, delta=-everything)
                ledger_post(
                    kind=JournalTransaction.Kind.WITHDRAWAL,
                    legs=[Leg(held.account_id, -everything, "EUR"), Leg(cash_out.pk, everything, "EUR")],
                    created_by="test",
                )
                locked.set()
                assert debit_waits.wait(40), "the debit never waited for the wallet lock"
        finally:
            connection.close()

    def debit() -> tuple[object, list[str]]:
        debit_pid.put(backend_pid())
        assert locked.wait(30)
        with CaptureQueriesContext(connection) as queries:
            try:
                result: object = wallet_debit(provider=provider, request=request)
            except DomainError as exc:
                result = exc
        connection.close()
        return result, [q["sql"] for q in queries.captured_queries]

    with ThreadPoolExecutor(max_workers=3) as pool:
        withdrawal, answer = pool.submit(withdraw_everything), pool.submit(debit)
        watcher = pool.submit(signal_when_the_debit_waits, locked, debit_waits, debit_pid)
        watcher.result()
        withdrawal.result()
        (result, statements) = answer.result()
    assert isinstance(result, DomainError) and result.code == "INSUFFICIENT_FUNDS", result
    assert ["wallet_debit_v3" in sql for sql in statements] == [True, False]
    assert "wallet_debit_v1" in statements[1]
    record = IdempotencyRecord.objects.get(scope=provider.code, key=request.transaction_id)
    assert record.response_status == 402 and record.response_body["code"] == "INSUFFICIENT_FUNDS"
    assert not JournalTransaction.objects.filter(provider_transaction_id=request.transaction_id).exists()
    assert Wallet.objects.get(pk=wallet.pk).balance == 0
    assert ledger_reconcile().ok


def test_a_debit_whose_player_is_held_by_a_movement_in_another_currency_waits_for_it(setup):
    """wallet_debit_v3 tries the lock without waiting: here it gets the EUR wallet but not the
    player, whom a USD movement holds. It keeps the wallet, takes v2's order and waits for
    the player (wallet then player, as every movement locks): accepted once the USD movement
    commits, both movements booked, no deadlock."""
    provider, wallet = setup
    usd = funded_wallet(player=wallet.player, currency="USD", amount=1_000)
    game = Game.objects.get(provider=provider)
    token = session_create(provider=provider, player=wallet.player, game=game, currency=wallet.currency_id)[1]
    # A first debit creates the provider's clearing account, so that the waiting debit may write early.
    wallet_debit(provider=provider, request=debit_request(wallet, amount=10, round_id="first", session_token=token))
    request = debit_request(wallet, amount=25, round_id="held", session_token=token)
    locked, debit_waits, debit_pid = threading.Event(), threading.Event(), Queue(maxsize=1)

    def usd_withdrawal() -> None:
        try:
            with transaction.atomic():
                _, held = wallet_lock(player_id=usd.player.player_id, currency="USD")
                cash_out = ledger_account_get_or_create(key="cash_out:USD", kind="cash_out", currency="USD")
                wallet_apply(wallet=held, delta=-100)
                ledger_post(
                    kind=JournalTransaction.Kind.WITHDRAWAL,
                    legs=[Leg(held.account_id, -100, "USD"), Leg(cash_out.pk, 100, "USD")],
                    created_by="test",
                )
                locked.set()
                assert debit_waits.wait(40), "the debit never waited for the player's lock"
        finally:
            connection.close()

    def debit() -> object:
        debit_pid.put(backend_pid())
        assert locked.wait(30)
        try:
            return wallet_debit(provider=provider, request=request)
        except DomainError as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        withdrawal, answer = pool.submit(usd_withdrawal), pool.submit(debit)
        watcher = pool.submit(signal_when_the_debit_waits, locked, debit_waits, debit_pid)
        watcher.result()
        withdrawal.result()
        result = answer.result()
    assert not isinstance(result, Exception), result
    assert result.balance == 1_000 - 10 - 25
    assert Wallet.objects.get(pk=wallet.pk).balance == 1_000 - 10 - 25
    assert Wallet.objects.get(pk=usd.pk).balance == 1_000 - 100
    assert JournalTransaction.objects.filter(provider_transaction_id=request.transaction_id).count() == 1
    assert ledger_reconcile().ok


@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_a_credit_opening_a_round_another_player_opened_meanwhile_is_refused_not_a_500(setup, settings, in_database):
    """Another player's call opens the round after this credit read it and commits first:
    the credit is judged against it as if it had come first (ROUND_NOT_FOUND), where the
    round's unique key used to make it a 500."""
    from players.tests.factories import PlayerFactory
    from sessions.models import Round

    settings.WALLET_CREDIT_IN_DATABASE = in_database
    provider, first = setup
    second = funded_wallet(player=PlayerFactory(), amount=0)
    opened, release = threading.Event(), threading.Event()

    def other_wallet_opens_the_round() -> None:
        try:
            with transaction.atomic():
                Round.objects.create(
                    provider=provider, round_id="t-1", player=first.player, currency_id="EUR", game_id="g"
                )
                opened.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def credit() -> object:
        try:
            return wallet_credit(
                provider=provider, request=credit_request(second, round_id="t-1", reason="prize", amount=500)
            )
        except DomainError as exc:
            return exc
        finally:
            connection.close()

    holder = threading.Thread(target=other_wallet_opens_the_round)
    holder.start()
    assert opened.wait(timeout=30)
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(credit)

        def waits_on_the_round() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                return cursor.fetchone()[0] > 0

        wait_for(waits_on_the_round, timeout=30, message="the credit to wait on the round's key")
        release.set()
        holder.join(timeout=30)
        result = answer.result(timeout=30)
    assert isinstance(result, DomainError) and result.code == "ROUND_NOT_FOUND", result
    assert Wallet.objects.get(pk=second.pk).balance == 0
    assert ledger_reconcile().ok


@pytest.mark.parametrize("in_database", [True, False], ids=["function", "python"])
@pytest.mark.parametrize("clearing", [True, False], ids=["clearing-account", "first-debit"])
def test_two_games_opening_one_round_at_once_leave_it_one_game_s(settings, in_database, clearing):
    """The player's dice and slot sessions bet into one new round together, behind the
    player's lock: one opens it, the other is refused as a bet into another game's round,
    unstored, and goes through into a round of its own. With the provider's clearing account
    there, v3 writes the ledger before the lock and hands the refusal back to v1."""
    settings.WALLET_DEBIT_IN_DATABASE = in_database
    provider = ProviderFactory()
    dice = GameFactory(provider=provider, game_id="race:dice")
    slot = GameFactory(provider=provider, game_id="race:slot")
    wallet = funded_wallet(amount=1_000)
    tokens = {
        game.game_id: session_create(provider=provider, player=wallet.player, game=game, currency="EUR")[1]
        for game in (dice, slot)
    }
    spent = 0
    if clearing:
        wallet_debit(
            provider=provider,
            request=debit_request(
                wallet, amount=10, round_id="first", session_token=tokens["race:dice"], game_id="race:dice"
            ),
        )
        spent = 10
    requests = [
        debit_request(wallet, amount=25, round_id="shared", session_token=token, game_id=game_id, tx=f"tx-{game_id}")
        for game_id, token in tokens.items()
    ]
    answers = race_behind_the_players_lock(
        wallet.player.player_id, [lambda r=r: wallet_debit(provider=provider, request=r) for r in requests]
    )
    refused = [a for a in answers if isinstance(a, DomainError)]
    assert len(refused) == 1 and len(answers) == 2, answers
    assert (refused[0].code, refused[0].details) == ("VALIDATION_ERROR", {"round_id": ["of another game"]})
    loser = requests[answers.index(refused[0])]
    assert not IdempotencyRecord.objects.filter(key=loser.transaction_id).exists()
    assert not JournalTransaction.objects.filter(provider_transaction_id=loser.transaction_id).exists()
    assert Wallet.objects.get(pk=wallet.pk).balance == 1_000 - spent - 25
    own = debit_request(
        wallet,
        amount=25,
        round_id="own",
        session_token=loser.session_token,
        game_id=loser.game_id,
        tx=loser.transaction_id,
    )
    assert wallet_debit(provider=provider, request=own).balance == 1_000 - spent - 50
    assert ledger_reconcile().ok
