"""Every write to a player. Each change of status or responsible-gambling state is audited."""

from datetime import datetime
from typing import Any

from django.db import transaction

from casino_platform import clock
from casino_platform.errors import ValidationFailed

from .errors import PlayerBlocked, PlayerNotFound, ResponsibleGamblingLimit
from .models import LossLimit, Player, PlayerAuditLog

AUDITED_FIELDS = ("display_name", "country", "status", "self_excluded_until", "timed_out_until")


def _audit(*, player: Player, field: str, old: Any, new: Any, changed_by: str, reason: str) -> None:
    PlayerAuditLog.objects.create(
        player=player,
        field=field,
        old_value="" if old is None else str(old),
        new_value="" if new is None else str(new),
        changed_by=changed_by,
        reason=reason,
    )


@transaction.atomic
def player_create(
    *,
    player_id: str,
    display_name: str = "",
    country: str = "",
    changed_by: str = "system",
    reason: str = "created",
) -> Player:
    player = Player.objects.create(player_id=player_id, display_name=display_name, country=country)
    _audit(player=player, field="created", old=None, new=player_id, changed_by=changed_by, reason=reason)
    return player


@transaction.atomic
def player_update(*, player: Player, changed_by: str, reason: str, **changes: Any) -> Player:
    """Change audited fields of a player under its row lock; one audit row per changed field."""
    unknown = set(changes) - set(AUDITED_FIELDS)
    if unknown:
        raise ValidationFailed(f"Not a player field: {', '.join(sorted(unknown))}")
    if "status" in changes and changes["status"] not in Player.Status.values:
        raise ValidationFailed(f"Unknown status {changes['status']!r}")
    locked = Player.objects.select_for_update().get(pk=player.pk)
    changed = []
    for field, new in changes.items():
        old = getattr(locked, field)
        if old == new:
            continue
        setattr(locked, field, new)
        changed.append(field)
        _audit(player=locked, field=field, old=old, new=new, changed_by=changed_by, reason=reason)
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
    return locked


def player_block(*, player: Player, changed_by: str, reason: str) -> Player:
    return player_update(player=player, changed_by=changed_by, reason=reason, status=Player.Status.BLOCKED)


def player_unblock(*, player: Player, changed_by: str, reason: str) -> Player:
    return player_update(player=player, changed_by=changed_by, reason=reason, status=Player.Status.ACTIVE)


def player_self_exclude(*, player: Player, until: datetime, changed_by: str, reason: str) -> Player:
    return player_update(player=player, changed_by=changed_by, reason=reason, self_excluded_until=until)


def player_time_out(*, player: Player, until: datetime, changed_by: str, reason: str) -> Player:
    return player_update(player=player, changed_by=changed_by, reason=reason, timed_out_until=until)


@transaction.atomic
def player_set_loss_limit(
    *, player: Player, currency: str, period: str, amount: int | None, changed_by: str, reason: str
) -> LossLimit | None:
    """Set (or with amount=None remove) a loss limit; audited like every RG change."""
    if period not in LossLimit.Period.values:
        raise ValidationFailed(f"Unknown period {period!r}")
    if amount is not None and (type(amount) is not int or amount < 0):
        raise ValidationFailed("A loss limit is a non-negative integer in minor units.")
    # The same lock a debit takes: a limit never changes halfway through a bet.
    Player.objects.select_for_update().filter(pk=player.pk).first()
    existing = LossLimit.objects.filter(player=player, currency_id=currency, period=period).first()
    old = existing.amount if existing else None
    field = f"loss_limit_{period}_{currency}"
    limit: LossLimit | None = None
    if amount is None:
        if existing:
            existing.delete()
            _audit(player=player, field=field, old=old, new=None, changed_by=changed_by, reason=reason)
    else:
        limit, _ = LossLimit.objects.update_or_create(
            player=player, currency_id=currency, period=period, defaults={"amount": amount}
        )
        if old != amount:
            _audit(player=player, field=field, old=old, new=amount, changed_by=changed_by, reason=reason)
    Player.objects.filter(pk=player.pk).update(has_loss_limits=LossLimit.objects.filter(player=player).exists())
    return limit


def player_lock(*, player_id: str | None = None, pk: int | None = None) -> Player:
    """Lock the player's row (by player_id or primary key): the one lock every wallet
    movement of this player takes first."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("player_lock() must run inside a transaction")
    lookup = {"pk": pk} if pk is not None else {"player_id": player_id}
    try:
        return Player.objects.select_for_update().get(**lookup)
    except Player.DoesNotExist:
        raise PlayerNotFound(f"No player {player_id!r}.") from None


def player_assert_may_bet(*, player: Player, now: datetime | None = None) -> None:
    """Status, self-exclusion and time-out, in that order. Loss limits are checked by the wallet."""
    now = now or clock.now()
    if player.status != Player.Status.ACTIVE:
        raise PlayerBlocked(f"Player {player.player_id} is blocked.")
    if player.self_excluded_until and player.self_excluded_until > now:
        raise ResponsibleGamblingLimit(
            f"Player {player.player_id} is self-excluded until {player.self_excluded_until.isoformat()}."
        )
    if player.timed_out_until and player.timed_out_until > now:
        raise ResponsibleGamblingLimit(
            f"Player {player.player_id} is on a time-out until {player.timed_out_until.isoformat()}."
        )
