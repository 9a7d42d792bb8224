import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from casino_platform.errors import Maintenance, ValidationFailed
from ledger.errors import IdempotencyMismatch
from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.errors import PlayerBlocked, PlayerNotFound, ResponsibleGamblingLimit
from players.services import (
    player_block,
    player_self_exclude,
    player_set_loss_limit,
    player_time_out,
    player_update_by_staff,
)
from sessions.errors import RoundClosed, RoundNotFound
from sessions.models import Round
from sessions.services import platform_switch_set
from wallet.errors import CurrencyMismatch, InsufficientFunds, RollbackNotAllowed, TransactionRolledBack
from wallet.models import Wallet
from wallet.services import (
    WalletResult,
    wallet_adjust,
    wallet_credit,
    wallet_debit,
    wallet_deposit,
    wallet_rollback,
    wallet_withdraw,
)
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet


def balance(wallet: Wallet) -> int:
    return Wallet.objects.get(pk=wallet.pk).balance


def assert_not_booked(transaction_id: str) -> None:
    assert not JournalTransaction.objects.filter(provider_transaction_id=transaction_id).exists()


def assert_books_balance() -> None:
    report = ledger_reconcile()
    assert report.ok, report


class TestDebit:
    def test_moves_money_and_writes_balanced_ledger(self, provider, wallet):
        result = wallet_debit(provider=provider, request=debit_request(wallet, amount=250))
        assert result.balance == 9_750
        assert balance(wallet) == 9_750
        journal = JournalTransaction.objects.get(pk=int(result.platform_transaction_id))
        assert journal.kind == "debit"
        assert sorted(e.amount for e in journal.entries.all()) == [-250, 250]
        assert_books_balance()

    def test_replay_returns_first_answer_and_moves_nothing(self, provider, wallet):
        request = debit_request(wallet, amount=100)
        first = wallet_debit(provider=provider, request=request)
        again = wallet_debit(provider=provider, request=request)
        assert again.replayed and not first.replayed
        assert again.as_body() == first.as_body()
        assert balance(wallet) == 9_900

    def test_same_id_different_payload_is_mismatch(self, provider, wallet):
        request = debit_request(wallet, amount=100, tx="same")
        wallet_debit(provider=provider, request=request)
        with pytest.raises(IdempotencyMismatch):
            wallet_debit(provider=provider, request=debit_request(wallet, amount=101, tx="same"))
        with pytest.raises(IdempotencyMismatch):
            wallet_credit(provider=provider, request=credit_request(wallet, amount=100, tx="same"))
        assert balance(wallet) == 9_900

    def test_insufficient_funds_is_stored_and_replayed(self, provider, wallet):
        request = debit_request(wallet, amount=10_001)
        with pytest.raises(InsufficientFunds) as first:
            wallet_debit(provider=provider, request=request)
        assert not first.value.replayed
        with pytest.raises(InsufficientFunds) as again:
            wallet_debit(provider=provider, request=request)
        assert again.value.replayed
        assert balance(wallet) == 10_000
        assert not Round.objects.exists()

    @pytest.mark.parametrize("amount", [0, -1, 5.0, "5", True, 10**15 + 1])
    def test_bad_amounts_are_validation_errors(self, provider, wallet, amount):
        with pytest.raises(ValidationFailed):
            wallet_debit(provider=provider, request=debit_request(wallet, amount=amount))
        assert balance(wallet) == 10_000

    @pytest.mark.parametrize("tx", ["", "x" * 129, "has space", "semi;colon"])
    def test_bad_transaction_ids_are_validation_errors(self, provider, wallet, tx):
        with pytest.raises(ValidationFailed):
            wallet_debit(provider=provider, request=debit_request(wallet, tx=tx))

    def test_closed_round_refuses_later_debits(self, provider, wallet):
        wallet_debit(provider=provider, request=debit_request(wallet, round_id="rc", round_closed=True))
        with pytest.raises(RoundClosed):
            wallet_debit(provider=provider, request=debit_request(wallet, round_id="rc"))
        assert balance(wallet) == 9_900

    def test_blocked_player_is_refused(self, provider, wallet):
        player_block(player=wallet.player, changed_by="staff", reason="fraud check")
        request = debit_request(wallet)
        with pytest.raises(PlayerBlocked):
            wallet_debit(provider=provider, request=request)
        assert balance(wallet) == 10_000
        assert_not_booked(request.transaction_id)

    def test_self_excluded_and_timed_out_players_hit_rg_limit(self, provider, wallet):
        player_self_exclude(player=wallet.player, until=timezone.now() + timedelta(days=1), changed_by="p", reason="")
        with pytest.raises(ResponsibleGamblingLimit):
            wallet_debit(provider=provider, request=debit_request(wallet))
        player_update_by_staff(
            player=wallet.player,
            changed_by="compliance",
            reason="lifted",
            lift_early=True,
            changes={"self_excluded_until": None},
        )
        player_time_out(player=wallet.player, until=timezone.now() + timedelta(hours=1), changed_by="p", reason="")
        with pytest.raises(ResponsibleGamblingLimit):
            wallet_debit(provider=provider, request=debit_request(wallet))
        assert balance(wallet) == 10_000

    def test_loss_limit_counts_net_loss(self, provider, wallet):
        player_set_loss_limit(player=wallet.player, currency="EUR", period="day", amount=500, changed_by="p", reason="")
        wallet_debit(provider=provider, request=debit_request(wallet, amount=400, round_id="a"))
        with pytest.raises(ResponsibleGamblingLimit):
            wallet_debit(provider=provider, request=debit_request(wallet, amount=101, round_id="b"))
        # A win lowers the net loss, making room again.
        wallet_credit(provider=provider, request=credit_request(wallet, amount=300, round_id="a"))
        wallet_debit(provider=provider, request=debit_request(wallet, amount=400, round_id="c"))
        assert balance(wallet) == 10_000 - 400 + 300 - 400

    def test_unknown_player_and_missing_wallet(self, provider, wallet):
        with pytest.raises(PlayerNotFound):
            wallet_debit(
                provider=provider,
                request=debit_request(wallet).__class__(
                    transaction_id="x1",
                    round_id="r",
                    game_id="sandbox:dice",
                    amount=1,
                    currency="EUR",
                    player_id="nobody",
                ),
            )
        with pytest.raises(CurrencyMismatch):
            wallet_debit(
                provider=provider,
                request=debit_request(wallet).__class__(
                    transaction_id="x2",
                    round_id="r",
                    game_id="sandbox:dice",
                    amount=1,
                    currency="USD",
                    player_id=wallet.player.player_id,
                ),
            )

    def test_maintenance_refuses_debits_but_not_credits(self, provider, wallet):
        wallet_debit(provider=provider, request=debit_request(wallet, round_id="m"))
        platform_switch_set(name="maintenance", is_on=True, changed_by="ops")
        with pytest.raises(Maintenance):
            wallet_debit(provider=provider, request=debit_request(wallet, round_id="m2"))
        wallet_credit(provider=provider, request=credit_request(wallet, round_id="m", amount=50))
        assert balance(wallet) == 9_950


class TestCredit:
    def test_win_needs_a_round_with_a_debit(self, provider, wallet):
        with pytest.raises(RoundNotFound):
            wallet_credit(provider=provider, request=credit_request(wallet, round_id="none", reason="win"))
        assert balance(wallet) == 10_000

    @pytest.mark.parametrize("in_database", [True, False], ids=["wallet_credit_v2", "python"])
    @pytest.mark.parametrize("reason", ["win", "cash_out"])
    def test_a_win_on_a_round_whose_debits_were_all_rolled_back_pays_nothing(
        self, provider, wallet, settings, in_database, reason
    ):
        """The contract refuses a rollback after a credit; this is the same pair the other way
        round: a win on a cancelled bet."""
        settings.WALLET_CREDIT_IN_DATABASE = in_database
        for n in (1, 2):
            wallet_debit(provider=provider, request=debit_request(wallet, round_id="rb", tx=f"bet-{n}"))
        wallet_rollback(provider=provider, request=rollback_request(wallet, reference="bet-1", round_id="rb"))
        wallet_rollback(provider=provider, request=rollback_request(wallet, reference="bet-2", round_id="rb"))
        with pytest.raises(RoundNotFound, match="not rolled back; rb has none") as refused:
            wallet_credit(provider=provider, request=credit_request(wallet, round_id="rb", amount=5_000, reason=reason))
        assert not refused.value.replayed
        assert balance(wallet) == 10_000
        # With one of its two debits rolled back, a round's win is paid.
        for n in (3, 4):
            wallet_debit(provider=provider, request=debit_request(wallet, round_id="rb2", tx=f"bet-{n}"))
        wallet_rollback(provider=provider, request=rollback_request(wallet, reference="bet-3", round_id="rb2"))
        wallet_credit(provider=provider, request=credit_request(wallet, round_id="rb2", amount=300, reason=reason))
        assert balance(wallet) == 10_000 - 100 + 300
        # Gifts still open or settle any round.
        wallet_credit(provider=provider, request=credit_request(wallet, round_id="rb", amount=5, reason="refund"))
        assert balance(wallet) == 10_205
        assert_books_balance()

    def test_prize_may_open_a_round(self, provider, wallet):
        result = wallet_credit(
            provider=provider, request=credit_request(wallet, round_id="t1", reason="prize", amount=5)
        )
        assert result.balance == 10_005
        assert Round.objects.get(round_id="t1").is_closed

    def test_zero_credit_closes_a_lost_round(self, provider, wallet):
        wallet_debit(provider=provider, request=debit_request(wallet, round_id="lost"))
        wallet_credit(provider=provider, request=credit_request(wallet, round_id="lost", amount=0))
        assert Round.objects.get(round_id="lost").is_closed
        with pytest.raises(RoundClosed):
            wallet_debit(provider=provider, request=debit_request(wallet, round_id="lost"))
        assert_books_balance()

    def test_blocked_player_is_still_paid(self, provider, wallet):
        wallet_debit(provider=provider, request=debit_request(wallet, round_id="b"))
        player_block(player=wallet.player, changed_by="staff", reason="")
        result = wallet_credit(provider=provider, request=credit_request(wallet, round_id="b", amount=500))
        assert result.balance == balance(wallet) == 10_400
        assert_books_balance()

    def test_currency_must_match_the_round(self, provider, wallet):
        usd = funded_wallet(player=wallet.player, currency="USD", amount=100)
        wallet_debit(provider=provider, request=debit_request(wallet, round_id="cur"))
        with pytest.raises(CurrencyMismatch):
            wallet_credit(
                provider=provider,
                request=credit_request(wallet, round_id="cur").__class__(
                    transaction_id="cm",
                    player_id=wallet.player.player_id,
                    round_id="cur",
                    game_id="sandbox:dice",
                    amount=1,
                    currency="USD",
                ),
            )
        assert (balance(wallet), balance(usd)) == (9_900, 100)
        assert_not_booked("cm")
        assert_books_balance()


class TestRollback:
    def test_rollback_returns_the_debit(self, provider, wallet):
        debit = debit_request(wallet, amount=700, round_id="rb")
        wallet_debit(provider=provider, request=debit)
        result = wallet_rollback(
            provider=provider, request=rollback_request(wallet, reference=debit.transaction_id, round_id="rb")
        )
        assert result.status == "rolled_back"
        assert balance(wallet) == 10_000
        again = wallet_rollback(
            provider=provider, request=rollback_request(wallet, reference=debit.transaction_id, round_id="rb")
        )
        assert again.status == "already_rolled_back"
        assert balance(wallet) == 10_000
        assert_books_balance()

    def test_unknown_reference_leaves_a_tombstone_that_refuses_the_debit(self, provider, wallet):
        result = wallet_rollback(provider=provider, request=rollback_request(wallet, reference="late-1", round_id="t"))
        assert result.status == "tombstone"
        with pytest.raises(TransactionRolledBack):
            wallet_debit(provider=provider, request=debit_request(wallet, tx="late-1", round_id="t"))
        assert balance(wallet) == 10_000

    def test_credit_cannot_be_rolled_back(self, provider, wallet):
        wallet_debit(provider=provider, request=debit_request(wallet, round_id="x"))
        credit = credit_request(wallet, round_id="x", round_closed=False)
        wallet_credit(provider=provider, request=credit)
        rollback = rollback_request(wallet, reference=credit.transaction_id, round_id="x")
        with pytest.raises(RollbackNotAllowed):
            wallet_rollback(provider=provider, request=rollback)
        assert balance(wallet) == 10_000 - 100 + 100
        assert_not_booked(rollback.transaction_id)
        assert_books_balance()

    def test_debit_in_a_credited_round_cannot_be_rolled_back(self, provider, wallet):
        debit = debit_request(wallet, round_id="y")
        wallet_debit(provider=provider, request=debit)
        wallet_credit(provider=provider, request=credit_request(wallet, round_id="y", amount=0))
        with pytest.raises(RollbackNotAllowed):
            wallet_rollback(
                provider=provider, request=rollback_request(wallet, reference=debit.transaction_id, round_id="y")
            )
        assert balance(wallet) == 9_900

    def test_debit_of_another_player_cannot_be_rolled_back(self, provider, wallet):
        other = funded_wallet(amount=1_000)
        debit = debit_request(other, round_id="z")
        wallet_debit(provider=provider, request=debit)
        with pytest.raises(RollbackNotAllowed):
            wallet_rollback(
                provider=provider, request=rollback_request(wallet, reference=debit.transaction_id, round_id="z")
            )
        assert balance(other) == 900


class TestBackOffice:
    def test_deposit_withdraw_adjust(self, wallet):
        player_id = wallet.player.player_id
        wallet_deposit(player_id=player_id, currency="EUR", amount=500, created_by="staff", reason="bank transfer")
        wallet_withdraw(player_id=player_id, currency="EUR", amount=200, created_by="staff", reason="payout")
        wallet_adjust(player_id=player_id, currency="EUR", amount=-300, created_by="staff", reason="correction")
        assert balance(wallet) == 10_000
        with pytest.raises(InsufficientFunds):
            wallet_withdraw(player_id=player_id, currency="EUR", amount=10_001, created_by="staff", reason="too much")
        with pytest.raises(ValidationFailed):
            wallet_deposit(player_id=player_id, currency="EUR", amount=1, created_by="staff", reason=" ")
        assert_books_balance()

    def test_deposit_with_reference_is_idempotent(self, wallet):
        player_id = wallet.player.player_id
        for _ in range(2):
            wallet_deposit(
                player_id=player_id, currency="EUR", amount=500, created_by="staff", reason="r", reference="dep-1"
            )
        assert balance(wallet) == 10_500


def test_an_answer_body_holds_every_field_but_replayed_and_the_empty_ones():
    full = WalletResult(
        player_id="p", currency="EUR", balance=5, transaction_id="t", platform_transaction_id="9", status="rolled_back"
    )
    expected = {f.name: getattr(full, f.name) for f in dataclasses.fields(WalletResult) if f.name != "replayed"}
    assert full.as_body() == expected
    assert list(full.as_body()) == list(expected)  # the field order, as stored and signed
    assert WalletResult(player_id="p", currency="EUR", balance=0).as_body() == {
        "player_id": "p",
        "currency": "EUR",
        "balance": 0,
    }


@pytest.mark.parametrize("transaction_id", ["tx-1\n", "tx 1", "", "x" * 129, "tx-1\r"])
def test_a_transaction_id_outside_the_contracts_characters_is_refused(transaction_id):
    from casino_platform.errors import ValidationFailed
    from wallet.services.common import validate_transaction_id

    with pytest.raises(ValidationFailed):
        validate_transaction_id(transaction_id)
    assert validate_transaction_id("tx-1.a:b_c") == "tx-1.a:b_c"
