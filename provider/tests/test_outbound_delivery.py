"""Credits and rollbacks to a partner, delivered by a real Celery worker over Redis to a
fake partner on loopback: down, slow, dropping connections, and a worker killed mid-send."""

import threading

import pytest
from django.db import OperationalError, connection, transaction

from provider.games.services import (
    game_round_play,
    partner_player_get_or_create,
    poker_table_join,
    poker_table_leave,
    tournament_pay,
    tournament_register,
    tournament_unregister,
)
from provider.models import GameRound, OutboundTransaction
from provider.outbound.services import DebitRefused, outbound_deliver
from provider.tests.conftest import Worker, wait_for

pytestmark = [pytest.mark.concurrency, pytest.mark.slow]


def play(partner_casino, n, *, stake=100):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    return [
        game_round_play(
            partner=partner_casino,
            player=player,
            session_token="tok",
            game="slot",
            stake=stake,
            currency="EUR",
            server_seed=f"seed-{i}",
        )
        for i in range(n)
    ]


def all_credits_delivered():
    return not OutboundTransaction.objects.filter(kind="credit").exclude(status="succeeded").exists()


def first_refused(credits: list[OutboundTransaction]) -> bool:
    """The first credit tried (and refused) while none of them has been delivered: the later
    ones, waiting for it, are tried only after it (their attempts stay 0 until then)."""
    rows = OutboundTransaction.objects.filter(pk__in=[c.pk for c in credits])
    assert not rows.filter(status="succeeded").exists(), "delivered while the partner was down"
    return rows.get(pk=credits[0].pk).attempts >= 1


def test_partner_down_then_recovering_gets_every_credit_exactly_once(worker, fake_partner, partner_casino):
    # The partner's credit endpoint is down until the test brings it back; debits still go through.
    fake_partner.down_endpoints = {"credit"}
    fake_partner.down_until = float("inf")
    rounds = play(partner_casino, 20)
    assert fake_partner.balances["p1"] == 100_000 - 20 * 100  # every stake taken, nothing paid yet
    credits = OutboundTransaction.objects.filter(kind="credit")
    wait_for(lambda: credits.order_by("id").first().attempts >= 2, timeout=60, message="the first credit retried")
    assert not credits.filter(status="succeeded").exists()
    fake_partner.down_until = 0.0  # back
    wait_for(all_credits_delivered, timeout=90, message="every credit delivered")
    assert credits.count() == 20
    # The first was retried while the partner was down; the rest waited their turn behind it.
    assert credits.order_by("id").first().attempts > 1
    assert all(fake_partner.applied[c.transaction_id] == 1 for c in credits)
    assert fake_partner.balances["p1"] == 100_000 - 20 * 100 + sum(r.payout for r in rounds)


def test_credits_keep_their_order_per_player(worker, fake_partner, partner_casino):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    tables = [
        poker_table_join(partner=partner_casino, player=player, session_token="t", buy_in=1_000, currency="EUR")
        for _ in range(3)
    ]
    # Settle three tables while the partner is down: three cash-outs queue up behind each other.
    fake_partner.down_until = float("inf")
    credits = [poker_table_leave(round_obj=t, chips=chips) for t, chips in zip(tables, [1_500, 0, 700], strict=True)]
    # Back only once the first was refused with all three queued: the later ones wait behind it.
    wait_for(lambda: first_refused(credits), timeout=60, message="the first cash-out refused")
    fake_partner.down_until = 0.0
    wait_for(all_credits_delivered, timeout=60, message="cash-outs delivered")
    delivered = list(
        OutboundTransaction.objects.filter(kind="credit")
        .order_by("completed_at", "id")
        .values_list("transaction_id", flat=True)
    )
    assert delivered == [c.transaction_id for c in credits]
    assert fake_partner.balances["p1"] == 100_000 - 3_000 + 2_200


def test_a_credit_is_not_sent_before_an_earlier_one_of_its_player(broker, fake_partner, partner_casino):
    """The order rule itself, without a worker or a clock: the later cash-out waits while
    the earlier is undelivered, then goes."""
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    tables = [
        poker_table_join(partner=partner_casino, player=player, session_token="t", buy_in=1_000, currency="EUR")
        for _ in range(2)
    ]
    first, second = (poker_table_leave(round_obj=t, chips=chips) for t, chips in zip(tables, [1_500, 700], strict=True))
    assert outbound_deliver(outbound_id=second.pk).status == "waiting_for_earlier"
    assert second.transaction_id not in fake_partner.applied
    assert fake_partner.balances["p1"] == 100_000 - 2_000
    assert outbound_deliver(outbound_id=first.pk).status == "succeeded"
    assert outbound_deliver(outbound_id=second.pk).status == "succeeded"
    assert fake_partner.balances["p1"] == 100_000 - 2_000 + 2_200


def test_a_players_line_follows_the_commits_of_its_settlements(broker, fake_partner, partner_casino):
    """A row's id is drawn at its insert, not its commit: a second table of the same player
    settling while the first's transaction is still open waits for it, so the later-numbered
    cash-out can never commit first and, seeing no earlier one yet, go ahead of it."""
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    tables = [
        poker_table_join(partner=partner_casino, player=player, session_token="t", buy_in=1_000, currency="EUR")
        for _ in range(2)
    ]
    first_queued, release = threading.Event(), threading.Event()

    def settle_first_and_hold():
        try:
            with transaction.atomic():
                poker_table_leave(round_obj=tables[0], chips=1_500)
                first_queued.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=settle_first_and_hold)
    holder.start()
    try:
        assert first_queued.wait(30)
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            poker_table_leave(round_obj=tables[1], chips=700)
    finally:
        release.set()
        holder.join(30)
    second = poker_table_leave(round_obj=tables[1], chips=700)
    first = OutboundTransaction.objects.get(round=tables[0], kind="credit")
    assert first.pk < second.pk
    assert outbound_deliver(outbound_id=second.pk).status == "waiting_for_earlier"


def test_a_worker_killed_mid_delivery_loses_nothing(worker, fake_partner, partner_casino, tmp_path):
    # The partner is slow to answer credits: the worker will be mid-request.
    fake_partner.delay, fake_partner.delay_endpoints = 2.0, {"credit"}
    play(partner_casino, 1)
    credit = OutboundTransaction.objects.get(kind="credit")
    wait_for(lambda: fake_partner.received[credit.transaction_id] >= 1, message="the credit to reach the partner")
    worker.kill()
    fake_partner.delay = 0
    replacement = Worker(tmp_path / "worker2.log").start()
    try:
        wait_for(all_credits_delivered, timeout=60, message="the credit delivered by the new worker")
    finally:
        replacement.stop()
    assert fake_partner.received[credit.transaction_id] >= 2  # it was sent again ...
    assert fake_partner.applied[credit.transaction_id] == 1  # ... and paid once


def test_unknown_outcome_debit_ends_rolled_back(worker, fake_partner, partner_casino):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    fake_partner.delay = 1.5  # longer than our 1 s read timeout: the debit's outcome is unknown
    with pytest.raises(DebitRefused) as refused:
        game_round_play(
            partner=partner_casino,
            player=player,
            session_token="t",
            game="dice",
            stake=2_500,
            currency="EUR",
            target=50,
        )
    assert refused.value.code == "OUTCOME_UNKNOWN"
    fake_partner.delay = 0
    wait_for(
        lambda: OutboundTransaction.objects.filter(kind="rollback", status="succeeded").exists(),
        timeout=60,
        message="the rollback accepted",
    )
    debit = OutboundTransaction.objects.get(kind="debit")
    assert debit.status == "unknown"
    assert fake_partner.applied[debit.transaction_id] == 1  # the partner did take the money ...
    assert fake_partner.balances["p1"] == 100_000  # ... and gave it back
    assert GameRound.objects.get().status in ("refused", "rolled_back")


def test_tournament_unregister_rolls_the_entry_back(worker, fake_partner, partner_casino):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    entry = tournament_register(partner=partner_casino, player=player, session_token="t", fee=5_000, currency="EUR")
    assert fake_partner.balances["p1"] == 95_000
    tournament_unregister(round_obj=entry)
    wait_for(
        lambda: OutboundTransaction.objects.filter(kind="rollback", status="succeeded").exists(),
        timeout=60,
        message="the entry rolled back",
    )
    assert fake_partner.balances["p1"] == 100_000


def test_tournament_pay_delivers_the_bounty_then_the_prize_once_each(worker, fake_partner, partner_casino):
    player = partner_player_get_or_create(partner=partner_casino, partner_player_id="p1")
    entry = tournament_register(partner=partner_casino, player=player, session_token="t", fee=5_000, currency="EUR")
    fake_partner.down_until = float("inf")  # both credits queue while the partner is down
    bounty, prize = tournament_pay(round_obj=entry, prize=12_000, bounty=1_500)
    assert (bounty.reason, bounty.amount, prize.reason, prize.amount) == ("bounty", 1_500, "prize", 12_000)
    wait_for(lambda: first_refused([bounty, prize]), timeout=60, message="the bounty refused")
    fake_partner.down_until = 0.0
    wait_for(all_credits_delivered, timeout=60, message="bounty and prize delivered")
    delivered = list(
        OutboundTransaction.objects.filter(kind="credit")
        .order_by("completed_at", "id")
        .values_list("transaction_id", flat=True)
    )
    assert delivered == [bounty.transaction_id, prize.transaction_id]
    assert all(fake_partner.applied[t] == 1 for t in delivered)
    assert fake_partner.balances["p1"] == 100_000 - 5_000 + 13_500
    settled = GameRound.objects.get(pk=entry.pk)
    assert (settled.status, settled.payout) == (GameRound.Status.SETTLED, 13_500)


def test_a_partner_trickling_its_answer_holds_a_production_worker_only_until_the_time_limit(
    transactional_db, broker, tmp_path, fake_partner, partner_casino, monkeypatch
):
    """Production's prefork worker, whose pool enforces Celery's time limits: each byte of the
    answer comes within the read timeout, the whole answer never does. The delivery is cut
    off at the limit, recorded as an attempt of ours and retried; once the partner answers,
    the win is paid once."""
    from provider.tasks import outbound_deliver_task

    fake_partner.trickle = 0.3  # under the partner's 1 s read timeout, per byte
    # The limits travel in each task's message, set by the process that sends it: here the
    # test. A task keeps the limits it was bound with, and caches its sending options.
    task = outbound_deliver_task._get_current_object()
    monkeypatch.setattr(task, "soft_time_limit", 2)
    monkeypatch.setattr(task, "time_limit", 32)
    monkeypatch.setattr(task, "_exec_options", None)
    worker = Worker(tmp_path / "worker.log", pool="prefork", env={"CELERY_TASK_TIME_LIMIT_SECONDS": "2"}).start()
    try:
        play(partner_casino, 1)
        credit = OutboundTransaction.objects.get(kind="credit")
        wait_for(
            lambda: OutboundTransaction.objects.get(pk=credit.pk).last_error_code != "",
            timeout=30,
            message="the trickled delivery cut off and recorded",
        )
        # Recorded as ours, to be retried (the retry may already be on its way: not judged by status).
        cut = OutboundTransaction.objects.get(pk=credit.pk)
        assert cut.last_error_code == "CLIENT_ERROR" and cut.status != "succeeded", cut.last_error
        assert "SoftTimeLimitExceeded" in cut.last_error or "time limit" in cut.last_error.lower()
        fake_partner.trickle = 0.0
        wait_for(all_credits_delivered, timeout=60, message="the credit delivered once the partner answers")
        assert fake_partner.applied[credit.transaction_id] == 1
    finally:
        worker.stop()
        print(worker.log_path.read_text()[-3000:])
