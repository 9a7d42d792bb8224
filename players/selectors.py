from django.db.models import QuerySet

from .errors import PlayerNotFound
from .models import LossLimit, Player, SessionTimeLimit


def player_get(*, player_id: str) -> Player:
    # No player has an id the column cannot hold (a NUL, which PostgreSQL's text refuses, or
    # more than 64 characters): not found, without asking the database.
    if len(player_id) > 64 or "\x00" in player_id:
        raise PlayerNotFound(f"No player {player_id!r}.")
    try:
        return Player.objects.get(player_id=player_id)
    except Player.DoesNotExist:
        raise PlayerNotFound(f"No player {player_id!r}.") from None


def player_loss_limits(*, player: Player, currency: str) -> QuerySet[LossLimit]:
    return LossLimit.objects.filter(player=player, currency_id=currency)


def player_session_time_limit(*, player_pk: int) -> SessionTimeLimit | None:
    return SessionTimeLimit.objects.filter(player_id=player_pk).first()
