from django.db.models import QuerySet

from .errors import PlayerNotFound
from .models import LossLimit, Player


def player_get(*, player_id: str) -> Player:
    try:
        return Player.objects.get(player_id=player_id)
    except Player.DoesNotExist:
        raise PlayerNotFound(f"No player {player_id!r}.") from None


def player_loss_limits(*, player: Player, currency: str) -> QuerySet[LossLimit]:
    return LossLimit.objects.filter(player=player, currency_id=currency)
