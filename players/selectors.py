from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db.models import Q

from .errors import PlayerNotFound
from .models import DailyPlayTimeLimit, Player, SessionTimeLimit


def player_get(*, player_id: str) -> Player:
    # No player has an id the column cannot hold (a NUL, which PostgreSQL's text refuses, or
    # more than 64 characters): not found, without asking the database.
    if len(player_id) > 64 or "\x00" in player_id:
        raise PlayerNotFound(f"No player {player_id!r}.")
    try:
        return Player.objects.get(player_id=player_id)
    except Player.DoesNotExist:
        raise PlayerNotFound(f"No player {player_id!r}.") from None


def player_recorded_country(*, player_id: str) -> str:
    """The player's country as recorded; "" for none, or for no such player yet."""
    return Player.objects.filter(player_id=player_id).values_list("country", flat=True).first() or ""


def player_session_time_limit(*, player_pk: int) -> SessionTimeLimit | None:
    return SessionTimeLimit.objects.filter(player_id=player_pk).first()


def player_daily_play_time_limit(*, player_pk: int) -> DailyPlayTimeLimit | None:
    return DailyPlayTimeLimit.objects.filter(player_id=player_pk).first()


def utc_day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), UTC)


def player_play_time(*, player_pk: int, since: datetime, until: datetime) -> timedelta:
    """The player's time in game sessions within [since, until). A session counts from its
    launch to its end: closed, expired for want of activity (its `expires_at`, which play
    slides) or at its absolute end, whichever came first, or `until` while it is still open.
    Sessions open side by side count once: the union of their spans."""
    from sessions.models import GameSession  # sessions build on players, not the other way round

    # No session outlives the platform's cap from its launch, nor a day under a daily limit:
    # the bound lets the (player, created_at) index skip the player's older history. At least
    # a day, so that sessions launched under a longer cap before it was lowered still count.
    launched_since = since - max(timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS), timedelta(days=1))
    spans = (
        GameSession.objects.filter(
            player_id=player_pk,
            created_at__gt=launched_since,
            created_at__lt=until,
            expires_at__gt=since,
            absolute_expires_at__gt=since,
        )
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gt=since))
        .order_by("created_at")
        .values_list("created_at", "closed_at", "expires_at", "absolute_expires_at")
    )
    total = timedelta()
    run: tuple[datetime, datetime] | None = None  # the current stretch of overlapping sessions
    for created_at, closed_at, expires_at, absolute_expires_at in spans:
        start = max(created_at, since)
        end = min(moment for moment in (closed_at, expires_at, absolute_expires_at, until) if moment is not None)
        if end <= start:
            continue
        if run is not None and start <= run[1]:
            run = (run[0], max(run[1], end))
            continue
        if run is not None:
            total += run[1] - run[0]
        run = (start, end)
    if run is not None:
        total += run[1] - run[0]
    return total


@dataclass(frozen=True)
class DailyPlayTime:
    limit: DailyPlayTimeLimit
    played: timedelta  # in game sessions so far today (UTC)

    @property
    def left(self) -> timedelta:
        """What the limit leaves of today, never below nothing."""
        return max(timedelta(), timedelta(minutes=self.limit.amount) - self.played)


def player_daily_play_time(*, player_pk: int, now: datetime) -> DailyPlayTime | None:
    """The player's daily play-time limit and their time in game sessions today (UTC) up to
    `now`; None without a limit."""
    limit = player_daily_play_time_limit(player_pk=player_pk)
    if limit is None:
        return None
    return DailyPlayTime(limit, player_play_time(player_pk=player_pk, since=utc_day_start(now), until=now))
