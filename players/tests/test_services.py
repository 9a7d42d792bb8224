from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from casino_platform.errors import ValidationFailed
from ledger.tests.factories import CurrencyFactory
from players.models import LossLimit, PlayerAuditLog
from players.services import player_block, player_self_exclude, player_set_loss_limit, player_update
from players.tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def test_every_change_is_audited_with_who_when_old_new_and_why():
    player = PlayerFactory(player_id="p_audit")
    player_block(player=player, changed_by="alice", reason="chargeback")
    until = timezone.now() + timedelta(days=30)
    player_self_exclude(player=player, until=until, changed_by="player", reason="requested")
    log = list(
        PlayerAuditLog.objects.filter(player=player)
        .order_by("id")
        .values_list("field", "old_value", "new_value", "changed_by", "reason")
    )
    assert log == [
        ("status", "active", "blocked", "alice", "chargeback"),
        ("self_excluded_until", "", str(until), "player", "requested"),
    ]
    assert all(e.changed_at for e in PlayerAuditLog.objects.all())


def test_unchanged_values_write_no_audit_rows():
    player = PlayerFactory()
    player_update(player=player, changed_by="bob", reason="noop", country=player.country)
    assert not PlayerAuditLog.objects.filter(player=player).exists()


def test_unknown_fields_and_statuses_are_refused():
    player = PlayerFactory()
    with pytest.raises(ValidationFailed):
        player_update(player=player, changed_by="x", reason="", balance=5)
    with pytest.raises(ValidationFailed):
        player_update(player=player, changed_by="x", reason="", status="vip")


def test_loss_limits_are_set_changed_removed_and_audited(settings):
    settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0  # the cooling-off: test_responsible_gambling.py
    CurrencyFactory(code="EUR")
    player = PlayerFactory()
    player_set_loss_limit(player=player, currency="EUR", period="week", amount=5_000, changed_by="p", reason="")
    player_set_loss_limit(player=player, currency="EUR", period="week", amount=2_000, changed_by="p", reason="")
    assert LossLimit.objects.get(player=player).amount == 2_000
    player_set_loss_limit(player=player, currency="EUR", period="week", amount=None, changed_by="p", reason="")
    assert not LossLimit.objects.filter(player=player).exists()
    assert list(PlayerAuditLog.objects.filter(player=player).order_by("id").values_list("old_value", "new_value")) == [
        ("", "5000"),
        ("5000", "2000"),
        ("2000", ""),
    ]
    with pytest.raises(ValidationFailed):
        player_set_loss_limit(player=player, currency="EUR", period="year", amount=1, changed_by="p", reason="")


def test_audit_log_is_append_only_in_the_database():
    player = PlayerFactory()
    player_block(player=player, changed_by="alice", reason="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        PlayerAuditLog.objects.filter(player=player).update(reason="rewritten")
