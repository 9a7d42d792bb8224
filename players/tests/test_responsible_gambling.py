"""Loss limits with a cooling-off period for looser ones, and self-exclusion and time-out that
a player can start or extend but not shorten: the services, the sweep, the operator API."""

import io
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from casino_platform.errors import ValidationFailed
from casino_platform.tests.locks import player_locked, until_another_waits_for_a_lock
from ledger.tests.factories import CurrencyFactory
from players.models import LossLimit, Player, PlayerAuditLog
from players.services import player_extend_restriction, player_set_loss_limit, rg_limits_apply_due
from players.tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(hours=24)


@pytest.fixture
def player():
    CurrencyFactory(code="EUR")
    return PlayerFactory()


@pytest.fixture
def now():
    at = timezone.now().replace(microsecond=0)
    with mock.patch("casino_platform.clock.now", return_value=at):
        yield at


def set_limit(player, amount, period="day"):
    return player_set_loss_limit(
        player=player, currency="EUR", period=period, amount=amount, changed_by="tester", reason="asked"
    )


def limit_of(player, period="day"):
    return LossLimit.objects.filter(player=player, currency_id="EUR", period=period).first()


def audit_rows(player):
    return list(
        PlayerAuditLog.objects.filter(player=player).order_by("id").values_list("field", "old_value", "new_value")
    )


class TestLossLimits:
    def test_a_new_or_stricter_limit_is_in_force_at_once(self, player, now):
        set_limit(player, 5_000)
        set_limit(player, 2_000)
        limit = limit_of(player)
        assert (limit.amount, limit.pending_amount, limit.pending_from) == (2_000, None, None)
        assert Player.objects.get(pk=player.pk).has_bet_limits

    def test_a_looser_limit_waits_the_cooling_off_and_the_stricter_one_holds(self, player, now):
        set_limit(player, 2_000)
        returned = set_limit(player, 9_000)
        limit = limit_of(player)
        assert (limit.amount, limit.pending_amount, limit.pending_from) == (2_000, 9_000, now + DAY)
        assert returned == limit
        assert audit_rows(player)[-1] == (
            "loss_limit_day_EUR_pending",
            "",
            f"9000 from {(now + DAY).isoformat()}",
        )

    def test_asking_again_for_the_same_does_not_restart_the_wait(self, player, now):
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        with mock.patch("casino_platform.clock.now", return_value=now + timedelta(hours=5)):
            set_limit(player, 9_000)
            assert limit_of(player).pending_from == now + DAY
            set_limit(player, 8_000)  # another looser amount: a new request, a new wait
            assert limit_of(player).pending_from == now + timedelta(hours=29)
        assert [row[0] for row in audit_rows(player)].count("loss_limit_day_EUR_pending") == 2

    def test_a_stricter_limit_cancels_a_looser_one_waiting(self, player, now):
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        set_limit(player, 1_500)
        limit = limit_of(player)
        assert (limit.amount, limit.pending_amount, limit.pending_from) == (1_500, None, None)
        assert audit_rows(player)[-2:] == [
            ("loss_limit_day_EUR_pending", f"9000 from {(now + DAY).isoformat()}", ""),
            ("loss_limit_day_EUR", "2000", "1500"),
        ]

    def test_the_same_amount_again_cancels_the_wait_and_keeps_the_limit(self, player, now):
        set_limit(player, 2_000)
        set_limit(player, None)
        set_limit(player, 2_000)
        limit = limit_of(player)
        assert (limit.amount, limit.pending_from) == (2_000, None)

    def test_removal_waits_too(self, player, now):
        set_limit(player, 2_000)
        assert set_limit(player, None) == limit_of(player)
        limit = limit_of(player)
        assert limit.pending_removal and limit.amount == 2_000 and limit.pending_from == now + DAY
        assert Player.objects.get(pk=player.pk).has_bet_limits

    def test_removing_no_limit_is_nothing(self, player, now):
        assert set_limit(player, None) is None
        assert audit_rows(player) == []

    def test_the_sweep_puts_due_changes_in_force_and_audits_them(self, player, now):
        other = PlayerFactory()
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        set_limit(player, 1_000, period="week")
        set_limit(player, None, period="week")
        set_limit(other, 500)
        set_limit(other, 700)
        assert rg_limits_apply_due(now=now + DAY - timedelta(seconds=1)) == 0
        assert limit_of(player).amount == 2_000
        assert rg_limits_apply_due(now=now + DAY) == 3
        assert (limit_of(player).amount, limit_of(player).pending_from) == (9_000, None)
        assert limit_of(player, "week") is None
        assert limit_of(other).amount == 700
        assert ("loss_limit_day_EUR", "2000", "9000") in audit_rows(player)
        assert ("loss_limit_week_EUR", "1000", "") in audit_rows(player)
        # Each change closes two trails: the limit's, and the waiting change's.
        assert PlayerAuditLog.objects.filter(player=player, changed_by="system").count() == 4
        assert rg_limits_apply_due(now=now + 2 * DAY) == 0

    def test_removal_in_force_clears_the_flag_the_debit_reads(self, player, now):
        set_limit(player, 2_000)
        set_limit(player, None)
        rg_limits_apply_due(now=now + DAY)
        assert not LossLimit.objects.filter(player=player).exists()
        assert not Player.objects.get(pk=player.pk).has_bet_limits

    def test_no_cooling_off_when_the_operator_sets_none(self, player, now, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        assert (limit_of(player).amount, limit_of(player).pending_from) == (9_000, None)
        set_limit(player, None)
        assert limit_of(player) is None and not Player.objects.get(pk=player.pk).has_bet_limits

    @pytest.mark.parametrize("amount", [-1, 10**15 + 1, 5.0, "5", True])
    def test_bad_amounts_are_refused(self, player, amount):
        with pytest.raises(ValidationFailed):
            set_limit(player, amount)
        assert limit_of(player) is None

    def test_the_database_keeps_a_waiting_limit_looser_and_dated(self, player, now):
        from django.db import IntegrityError, transaction

        set_limit(player, 2_000)
        for bad in ({"pending_amount": 1_000, "pending_from": now}, {"pending_amount": 3_000, "pending_from": None}):
            with pytest.raises(IntegrityError), transaction.atomic():
                LossLimit.objects.filter(player=player).update(**bad)


class TestRestrictions:
    @pytest.mark.parametrize("field", ["self_excluded_until", "timed_out_until"])
    def test_start_and_extend_but_never_shorten(self, player, now, field):
        player_extend_restriction(player=player, field=field, until=now + DAY, changed_by="t", reason="r")
        player_extend_restriction(player=player, field=field, until=now + 2 * DAY, changed_by="t", reason="r")
        with pytest.raises(ValidationFailed) as refused:
            player_extend_restriction(player=player, field=field, until=now + DAY, changed_by="t", reason="r")
        assert "extended, not shortened" in refused.value.message
        with pytest.raises(ValidationFailed):
            player_extend_restriction(player=player, field=field, until=now, changed_by="t", reason="r")
        assert getattr(Player.objects.get(pk=player.pk), field) == now + 2 * DAY
        assert [row[0] for row in audit_rows(player)] == [field, field]

    def test_a_new_self_exclusion_lasts_at_least_the_minimum(self, player, now, settings):
        settings.RG_SELF_EXCLUSION_MIN_DAYS = 183

        def exclude(until):
            player_extend_restriction(
                player=player, field="self_excluded_until", until=until, changed_by="t", reason="r"
            )

        with pytest.raises(ValidationFailed) as refused:
            exclude(now + 183 * DAY - timedelta(seconds=1))
        earliest = (now + 183 * DAY).isoformat()
        assert refused.value.details == {"until": [f"at least 183 days from now: {earliest} or later"]}
        exclude(now + 183 * DAY)
        # In force, it grows by any time: it met the minimum when it started.
        with mock.patch("casino_platform.clock.now", return_value=now + 180 * DAY):
            exclude(now + 184 * DAY)
        # Ended, a new one is held to the minimum again.
        with mock.patch("casino_platform.clock.now", return_value=now + 185 * DAY), pytest.raises(ValidationFailed):
            exclude(now + 186 * DAY)
        assert Player.objects.get(pk=player.pk).self_excluded_until == now + 184 * DAY

    def test_a_minimum_of_nothing_and_a_time_out_take_any_future_end(self, player, now, settings):
        settings.RG_SELF_EXCLUSION_MIN_DAYS = 183
        second = now + timedelta(seconds=1)
        player_extend_restriction(player=player, field="timed_out_until", until=second, changed_by="t", reason="r")
        settings.RG_SELF_EXCLUSION_MIN_DAYS = 0
        player_extend_restriction(player=player, field="self_excluded_until", until=second, changed_by="t", reason="r")
        assert Player.objects.filter(pk=player.pk, timed_out_until=second, self_excluded_until=second).exists()

    def test_an_ended_restriction_may_be_replaced_by_a_shorter_one(self, player, now):
        Player.objects.filter(pk=player.pk).update(timed_out_until=now - DAY)
        player_extend_restriction(
            player=player, field="timed_out_until", until=now + timedelta(hours=1), changed_by="t", reason="r"
        )
        assert Player.objects.get(pk=player.pk).timed_out_until == now + timedelta(hours=1)


class TestWhatTheReviewFound:
    def test_a_change_whose_wait_is_over_counts_before_the_sweep_comes(self, player, now):
        """9,000 is due; the sweep is late; 5,000 is then stricter than the limit in force by
        the rule (9,000), so it applies at once instead of waiting behind 2,000."""
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        with mock.patch("casino_platform.clock.now", return_value=now + DAY + timedelta(minutes=5)):
            set_limit(player, 5_000)
        limit = limit_of(player)
        assert (limit.amount, limit.pending_from) == (5_000, None)
        assert audit_rows(player)[-3:] == [
            ("loss_limit_day_EUR_pending", f"9000 from {(now + DAY).isoformat()}", ""),
            ("loss_limit_day_EUR", "2000", "9000"),
            ("loss_limit_day_EUR", "9000", "5000"),
        ]

    def test_the_sweep_closes_the_waiting_changes_trail_too(self, player, now):
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        rg_limits_apply_due(now=now + DAY)
        assert audit_rows(player)[-2:] == [
            ("loss_limit_day_EUR_pending", f"9000 from {(now + DAY).isoformat()}", ""),
            ("loss_limit_day_EUR", "2000", "9000"),
        ]

    def test_turning_the_cooling_off_off_puts_a_waiting_change_in_force_when_asked_again(self, player, now, settings):
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0
        set_limit(player, 9_000)
        assert (limit_of(player).amount, limit_of(player).pending_from) == (9_000, None)
        assert ("loss_limit_day_EUR_pending", f"9000 from {(now + DAY).isoformat()}", "") in audit_rows(player)

    def test_an_unknown_currency_is_refused_by_the_service(self, player):
        with pytest.raises(ValidationFailed):
            player_set_loss_limit(player=player, currency="XTS", period="day", amount=1, changed_by="t", reason="")

    def test_one_failing_row_does_not_hold_up_the_sweep(self, player, now):
        other = PlayerFactory()
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        set_limit(other, 2_000)
        set_limit(other, 9_000)
        real = __import__("players.services", fromlist=["_apply_pending"])._apply_pending
        calls = []

        def first_fails(limit, **kw):
            calls.append(limit.player_id)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return real(limit, **kw)

        with mock.patch("players.services._apply_pending", side_effect=first_fails):
            assert rg_limits_apply_due(now=now + DAY) == 1
        assert sorted(limit.amount for limit in LossLimit.objects.all()) == [2_000, 9_000]

    @pytest.mark.django_db(transaction=True)
    def test_a_change_made_between_the_listing_and_the_lock_is_respected(self, player, now):
        """The sweep lists due rows, then locks each player: a stricter limit set in between
        has voided the waiting change, and the sweep must not resurrect it. The real sweep
        runs in a thread and waits for the player's lock, which the test holds while it sets
        the stricter limit."""
        set_limit(player, 2_000)
        set_limit(player, 9_000)
        swept: dict[str, object] = {}

        def sweep() -> None:
            try:
                swept["applied"] = rg_limits_apply_due(now=now + DAY)
            except BaseException as exc:  # raised again in the test's own thread below
                swept["error"] = exc
            finally:
                connection.close()

        sweeper = threading.Thread(target=sweep)
        with transaction.atomic():
            player_locked(player.player_id)
            sweeper.start()
            # Listed (the row was due), now waiting for the player: the stricter limit goes in.
            until_another_waits_for_a_lock(sweeper, "the sweep")
            set_limit(player, 1_000)
        sweeper.join(30)
        assert not sweeper.is_alive(), "the sweep never finished"
        if "error" in swept:
            raise swept["error"]
        assert swept["applied"] == 0
        assert (limit_of(player).amount, limit_of(player).pending_from) == (1_000, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
@pytest.mark.parametrize("what", ["loss_limit", "wager_limit", "self_exclusion"])
def test_a_limit_committed_while_a_debit_waits_for_the_player_refuses_it(settings, in_database, what):
    """The debit judges the player's limits and restrictions under the player's lock, after
    waiting for it: one committed meanwhile refuses the bet, on both debit paths."""
    from django.core.management import call_command

    from players.services import player_set_wager_limit
    from provider.models import Provider
    from wallet.models import Wallet
    from wallet.services.debits import DebitRequest, wallet_debit
    from wallet.tests.test_api import launch

    settings.WALLET_DEBIT_IN_DATABASE = in_database
    call_command("seed_sandbox", stdout=io.StringIO())
    token = launch()
    provider = Provider.objects.get(code="sandbox")

    def bet(tx: str, amount: int) -> DebitRequest:
        return DebitRequest(
            transaction_id=tx, round_id=tx, game_id="sandbox:dice", amount=amount, currency="EUR", session_token=token
        )

    # One accepted debit first, so the clearing account exists (v3's early-ledger path needs it).
    assert wallet_debit(provider=provider, request=bet("w-0", 100)).balance == 99_900
    outcome: dict[str, object] = {}

    def debit() -> None:
        try:
            outcome["result"] = wallet_debit(provider=provider, request=bet("w-1", 5_000))
        except Exception as exc:  # the refusal, judged in the test's own thread below
            outcome["error"] = exc
        finally:
            connection.close()

    player = Player.objects.get(player_id="p_demo_1")
    thread = threading.Thread(target=debit)
    with transaction.atomic():
        if what == "self_exclusion":
            until = timezone.now() + 2 * DAY
            player_extend_restriction(
                player=player, field="self_excluded_until", until=until, changed_by="t", reason="t"
            )
        else:
            set_kind = player_set_loss_limit if what == "loss_limit" else player_set_wager_limit
            set_kind(player=player, currency="EUR", period="day", amount=0, changed_by="t", reason="t")
        thread.start()
        until_another_waits_for_a_lock(thread, "the debit")
    thread.join(30)
    assert not thread.is_alive(), "the debit never finished"
    # A self-exclusion may also end the player's game sessions: the bet then meets that first.
    refusals = {"RG_LIMIT", "SESSION_EXPIRED"} if what == "self_exclusion" else {"RG_LIMIT"}
    assert getattr(outcome.get("error"), "code", None) in refusals, outcome
    assert Wallet.objects.get(player=player, currency_id="EUR").balance == 99_900


def test_the_python_debit_path_holds_the_stricter_limit_while_a_looser_one_waits(settings, now):
    from ledger.models import JournalTransaction
    from ledger.reconciliation import ledger_reconcile
    from players.errors import ResponsibleGamblingLimit
    from provider.tests.factories import GameFactory, ProviderFactory
    from wallet.models import Wallet
    from wallet.services import wallet_debit
    from wallet.tests.conftest import debit_request
    from wallet.tests.factories import funded_wallet

    settings.WALLET_DEBIT_IN_DATABASE = False
    provider = ProviderFactory()
    GameFactory(provider=provider)
    wallet = funded_wallet(amount=10_000)
    set_limit(wallet.player, 500)
    set_limit(wallet.player, 5_000)
    assert wallet_debit(provider=provider, request=debit_request(wallet, amount=400, round_id="a")).balance == 9_600
    refused = debit_request(wallet, amount=200, round_id="b")
    with pytest.raises(ResponsibleGamblingLimit):
        wallet_debit(provider=provider, request=refused)
    assert Wallet.objects.get(pk=wallet.pk).balance == 9_600
    assert not JournalTransaction.objects.filter(provider_transaction_id=refused.transaction_id).exists()
    assert rg_limits_apply_due(now=now + DAY) == 1
    result = wallet_debit(provider=provider, request=debit_request(wallet, amount=200, round_id="b"))
    assert not result.replayed
    assert result.balance == Wallet.objects.get(pk=wallet.pk).balance == 9_400
    assert ledger_reconcile().ok


def test_the_limits_sweep_stops_at_its_time_limit_instead_of_logging_it_as_a_failure(player, monkeypatch, caplog):
    """Celery's soft time limit is an Exception: caught with the rest, the row at hand was
    logged as "could not be put in force" and the loop ran on until the worker was killed."""
    from celery.exceptions import SoftTimeLimitExceeded

    from players import services

    set_limit(player, 1_000)
    set_limit(player, 5_000)  # looser: waits for the cooling-off

    def out_of_time(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "_apply_pending", out_of_time)
    with pytest.raises(SoftTimeLimitExceeded):
        rg_limits_apply_due(now=timezone.now() + 30 * DAY)
    assert "could not be put in force" not in caplog.text
