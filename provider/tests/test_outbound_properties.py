"""Whatever a partner casino does (down, switching us off, refusing, dropping the connection
after doing the work, answering for another transaction) and wherever our process dies
(right after a debit's call, or after a credit's or a rollback's),
once the partner is healthy again and the queues are drained, the partner's books and ours
agree round by round, and no transaction moved money twice. Generated runs against the fake
partner over loopback; deliveries and sweeps run in the test."""

import uuid
from datetime import timedelta

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casino_platform import clock
from provider.crypto import encrypt_secret
from provider.games.services import game_round_play, game_rounds_unsettled_void, partner_player_get_or_create
from provider.models import GameRound, OutboundTransaction, PartnerCasino
from provider.outbound.services import (
    OUTBOX_KINDS,
    DebitRefused,
    outbound_debits_stranded_roll_back,
    outbound_deliver,
    outbound_retry_now,
)
from provider.tests.conftest import DiesAfterTheCall, ProcessDied
from provider.tests.fake_partner import FakePartner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

START = 1_000_000


def partner_mode(fake: FakePartner, mode: str) -> None:
    fake.down_until = 0.0
    fake.disabled_endpoints = set()
    fake.refuse_credits_with = None
    fake.drop_after_processing = False
    fake.answer_transaction_id = None
    if mode == "down":
        fake.down_until = float("inf")
    elif mode == "disabled":
        fake.disabled_endpoints = {"debit", "credit", "rollback"}
    elif mode == "refusing":
        fake.refuse_credits_with = "VALIDATION_ERROR"
    elif mode == "dropping":
        fake.drop_after_processing = True
    elif mode == "misanswering":
        fake.answer_transaction_id = "someone-elses"


def deliver_due(partner: PartnerCasino, *, dies: bool = False) -> None:
    """One attempt at every credit and rollback in line, oldest first, as the sweep's tasks:
    those pending, and those whose sender's lease ran out. With `dies`, the process dies right
    after its first call went out (the partner may have done the work): the rest waits."""
    queued = OutboundTransaction.objects.filter(partner=partner, kind__in=OUTBOX_KINDS).filter(
        Q(status=OutboundTransaction.Status.PENDING)
        | Q(status=OutboundTransaction.Status.SENDING, lease_until__lt=clock.now())
    )
    for outbound_id in queued.order_by("id").values_list("pk", flat=True):
        OutboundTransaction.objects.filter(pk=outbound_id, status=OutboundTransaction.Status.PENDING).update(
            next_attempt_at=clock.now(), lease_until=None
        )
        try:
            outbound_deliver(outbound_id=outbound_id, client=DiesAfterTheCall(partner) if dies else None)
        except ProcessDied:
            return


def sweep_as_if_long_after(partner: PartnerCasino) -> None:
    """The beat sweep, an hour after everything in flight began."""
    long_ago = clock.now() - timedelta(hours=1)
    OutboundTransaction.objects.filter(partner=partner, status=OutboundTransaction.Status.SENDING).update(
        created_at=long_ago, lease_until=long_ago
    )
    GameRound.objects.filter(partner=partner, status=GameRound.Status.OPEN).update(created_at=long_ago)
    outbound_debits_stranded_roll_back()
    game_rounds_unsettled_void()


STEPS = st.one_of(
    st.tuples(st.just("play"), st.integers(1, 5_000), st.booleans()),
    st.tuples(st.just("mode"), st.sampled_from(["ok", "down", "disabled", "refusing", "dropping", "misanswering"])),
    st.tuples(st.just("deliver"), st.booleans()),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("staff_retry")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEPS, min_size=1, max_size=14))
def test_after_any_run_the_partner_and_we_agree_round_by_round(steps):
    with FakePartner(balances={"p1": START}) as fake:
        partner = PartnerCasino.objects.create(
            name=f"fuzz-{uuid.uuid4().hex[:12]}",
            base_url=fake.url,
            provider_code=fake.provider_code,
            secret_encrypted=encrypt_secret(fake.secret),
            connect_timeout_ms=500,
            read_timeout_ms=1_000,
        )
        player = partner_player_get_or_create(partner=partner, partner_player_id="p1")
        for n, step in enumerate(steps):
            if step[0] == "play":
                _, stake, dies = step
                try:
                    game_round_play(
                        partner=partner,
                        player=player,
                        session_token="tok",
                        game="dice" if n % 2 else "slot",
                        stake=stake,
                        currency="EUR",
                        server_seed=f"seed-{n}",
                        client=DiesAfterTheCall(partner) if dies else None,
                    )
                except (DebitRefused, ProcessDied):
                    pass
            elif step[0] == "mode":
                partner_mode(fake, step[1])
            elif step[0] == "deliver":
                deliver_due(partner, dies=step[1])
            elif step[0] == "sweep":
                sweep_as_if_long_after(partner)
            else:
                failed = OutboundTransaction.objects.filter(partner=partner, status=OutboundTransaction.Status.FAILED)
                outbound_retry_now(ids=list(failed.values_list("pk", flat=True)))

        # The partner heals; the sweep and staff do their part; the queues drain.
        partner_mode(fake, "ok")
        sweep_as_if_long_after(partner)
        failed = OutboundTransaction.objects.filter(partner=partner, status=OutboundTransaction.Status.FAILED)
        outbound_retry_now(ids=list(failed.values_list("pk", flat=True)))
        for _ in range(10):
            deliver_due(partner)

        outbound = OutboundTransaction.objects.filter(partner=partner)
        assert not outbound.filter(kind__in=OUTBOX_KINDS).exclude(status="succeeded").exists()
        assert not outbound.filter(status=OutboundTransaction.Status.SENDING).exists()
        assert all(count == 1 for count in fake.applied.values())
        expected = START
        for round_obj in GameRound.objects.filter(partner=partner):
            assert round_obj.status != GameRound.Status.OPEN
            debits = [d.transaction_id for d in outbound.filter(round=round_obj, kind="debit")]
            taken = sum(fake.debits[d][1] for d in debits if d in fake.debits and d not in fake.rolled_back)
            paid = sum(
                c.amount for c in outbound.filter(round=round_obj, kind="credit") if fake.applied[c.transaction_id]
            )
            if round_obj.status == GameRound.Status.SETTLED:
                # Our record says: stake taken, payout paid.
                assert (taken, paid) == (round_obj.stake, round_obj.payout), round_obj.round_id
            else:
                # Refused, voided or rolled back: nothing taken, nothing paid.
                assert (taken, paid) == (0, 0), (round_obj.round_id, round_obj.status)
            expected += paid - taken
        assert fake.balances["p1"] == expected
