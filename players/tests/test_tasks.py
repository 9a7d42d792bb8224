"""The loss-limit sweep as production runs it: Celery beat schedules it, a worker runs it."""

from datetime import timedelta

from django.utils import timezone

from ledger.tests.factories import CurrencyFactory
from players.models import LossLimit, PlayerAuditLog
from players.services import player_set_loss_limit
from players.tests.factories import PlayerFactory
from provider.tests.conftest import wait_for


def test_beat_and_worker_put_a_looser_limit_in_force_once_its_wait_has_ended(worker, settings):
    settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 2
    CurrencyFactory(code="EUR")
    player = PlayerFactory()
    for amount in (1_000, 4_000):
        player_set_loss_limit(player=player, currency="EUR", period="day", amount=amount, changed_by="t", reason="")
    limit = LossLimit.objects.get(player=player)
    assert limit.amount == 1_000 and limit.pending_from <= timezone.now() + timedelta(seconds=2)
    wait_for(lambda: LossLimit.objects.get(player=player).amount == 4_000, timeout=30, message="the sweep")
    assert LossLimit.objects.get(player=player).pending_from is None
    assert PlayerAuditLog.objects.filter(player=player, changed_by="system", new_value="4000").count() == 1
