from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet

from .errors import PlayerNotFound
from .models import (
    BET_LIMITS,
    DailyPlayTimeLimit,
    DepositLimit,
    PeriodLimit,
    Player,
    PlayerAuditLog,
    SelfExclusionState,
    SessionTimeLimit,
)


def _player_id_storable(player_id: str) -> bool:
    # No player has an id the column cannot hold (a NUL, which PostgreSQL's text refuses, or
    # more than 64 characters): such an id is no player's, without asking the database.
    return len(player_id) <= 64 and "\x00" not in player_id


def player_get(*, player_id: str) -> Player:
    if not _player_id_storable(player_id):
        raise PlayerNotFound(f"No player {player_id!r}.")
    try:
        return Player.objects.get(player_id=player_id)
    except Player.DoesNotExist:
        raise PlayerNotFound(f"No player {player_id!r}.") from None


def player_recorded_country(*, player_id: str) -> str:
    """The player's country as recorded; "" for none, or for no such player yet."""
    if not _player_id_storable(player_id):
        return ""
    return Player.objects.filter(player_id=player_id).values_list("country", flat=True).first() or ""


def player_search(queryset: QuerySet[Player], term: str) -> QuerySet[Player]:
    """Staff's search of the players: a player's id exactly, by its unique index; any other
    term in the display names, in part and in any case. That reads every player (no index
    answers a "contains"), so it is only the fallback: a search by id, what support are
    mostly given, no longer reads every name as well."""
    term = term.strip()
    if not term:
        return queryset
    # Asked of all players, not of `queryset`: an id the list's filters leave out is still
    # an id, not a name to look for.
    if Player.objects.filter(player_id=term).exists():
        return queryset.filter(player_id=term)
    return queryset.filter(display_name__icontains=term)


def players_by_self_exclusion(queryset: QuerySet[Player], *, state: str, now: datetime) -> QuerySet[Player]:
    """The players whose self-exclusion is in `state` (SelfExclusionState) now, as
    players.services.player_self_exclusion_state judges one player: read along the index of
    the players who have one (player_self_excluded_idx), not every player."""
    if state == SelfExclusionState.NONE:
        return queryset.filter(self_excluded_until__isnull=True)
    if state == SelfExclusionState.IN_FORCE:
        return queryset.filter(self_excluded_until__gt=now)
    ended = queryset.filter(self_excluded_until__lte=now)
    if state == SelfExclusionState.AWAITING_REQUEST:
        return ended.filter(_WAITING_FOR_REQUEST)
    if state == SelfExclusionState.COOLING_OFF:
        return ended.filter(_ASKED, self_exclusion_resumes_at__gt=now)
    if state == SelfExclusionState.ENDED:
        return ended.filter(_ASKED, self_exclusion_resumes_at__lte=now)
    raise ValueError(state)


# An ended self-exclusion whose player has asked to play again, and one that waits for them to
# (no request, or one dated before its end: player_self_exclusion_state).
_ASKED = Q(self_exclusion_resumes_at__gte=F("self_excluded_until"))
_WAITING_FOR_REQUEST = Q(self_exclusion_resumes_at__isnull=True) | Q(
    self_exclusion_resumes_at__lt=F("self_excluded_until")
)


def players_self_exclusion_waiting(*, now: datetime) -> dict[str, int]:
    """How many players' self-exclusions have ended and refuse play still: waiting for the
    player's request, and cooling off after it. One query, along player_self_excluded_idx."""
    return Player.objects.filter(self_excluded_until__lte=now).aggregate(
        awaiting_request=Count("pk", filter=_WAITING_FOR_REQUEST),
        cooling_off=Count("pk", filter=_ASKED & Q(self_exclusion_resumes_at__gt=now)),
    )


def player_audit_search(queryset: QuerySet[PlayerAuditLog], term: str) -> QuerySet[PlayerAuditLog]:
    """Staff's search of the players' audit log by a player's id or by who made the change,
    each by its index (the log's player key; player_audit_by_idx): the player's key first,
    as sessions.selectors.round_search does. The plain OR of the row's column and the
    joined player's id read the whole log."""
    term = term.strip()
    if not term:
        return queryset
    players = list(Player.objects.filter(player_id=term).values_list("pk", flat=True))
    return queryset.filter(Q(player_id__in=players) | Q(changed_by=term))


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


@dataclass(frozen=True, slots=True)
class LimitMissing:
    period: str
    limited_in: list[str]


def _limited_currencies(*, model: type[PeriodLimit], player: Player) -> dict[str, set[str]]:
    """For each period the player has a limit of `model` of, the currencies it is set in."""
    limited: dict[str, set[str]] = {}
    for period, code in model.objects.filter(player=player).values_list("period", "currency_id"):
        limited.setdefault(period, set()).add(code)
    return limited


def period_limit_missing(*, model: type[PeriodLimit], player: Player, currency: str) -> LimitMissing | None:
    """The first period (shortest first) the player has a limit of this kind for in another
    currency but not in `currency`, with the currencies that have one; None if `currency`
    has every period any currency has. A limit counts only its own currency's money (the
    platform holds no exchange rates), so without this a limit is left by changing currency."""
    missing = _periods_missing(_limited_currencies(model=model, player=player), currency)
    return missing[0] if missing else None


def _periods_missing(limited: dict[str, set[str]], currency: str) -> list[LimitMissing]:
    """Of the periods limited in some currency (`limited`), shortest first, those `currency`
    has no limit of, with the currencies that have one."""
    return [
        LimitMissing(period=period, limited_in=sorted(limited[period]))
        for period in PeriodLimit.Period.values
        if period in limited and currency not in limited[period]
    ]


def bet_limit_missing(*, player: Player, currency: str) -> tuple[type[PeriodLimit], LimitMissing] | None:
    """A loss or wager limit (in a debit's order) the player has of a period in another
    currency and not in `currency`. A debit is held only against its own currency's limits,
    so play in `currency` would escape it: a launch in it is refused, and its open sessions
    are closed. None when nothing is missing, or the player has no bet limits at all."""
    if not player.has_bet_limits:
        return None
    for model in BET_LIMITS:
        missing = period_limit_missing(model=model, player=player, currency=currency)
        if missing is not None:
            return model, missing
    return None


@dataclass(frozen=True, slots=True)
class LimitLacking:
    """A limit the player lacks in `currency`: `model`'s of `period`, held in `limited_in`."""

    currency: str
    model: type[PeriodLimit]
    period: str
    limited_in: list[str]


def player_limits_missing(*, player: Player, also_in: Iterable[str] = ()) -> list[LimitLacking]:
    """Each loss, wager and deposit limit the player has of a period in one currency and not in
    another of their wallets' (or of `also_in`, currencies they have no wallet in yet): what the
    casino sets before the player may play (loss, wager) or deposit (deposit) in that currency.
    Every period, where a refusal names the shortest."""
    currencies = sorted({*player.wallets.values_list("currency_id", flat=True), *also_in})
    kinds: tuple[type[PeriodLimit], ...] = (*BET_LIMITS, DepositLimit)
    lacking = []
    for model in kinds:
        limited = _limited_currencies(model=model, player=player)
        lacking += [
            LimitLacking(currency=code, model=model, period=missing.period, limited_in=missing.limited_in)
            for code in currencies
            for missing in _periods_missing(limited, code)
        ]
    return lacking


def bet_limits_missing_in(
    *, player: Player, currencies: Iterable[str]
) -> list[tuple[str, type[PeriodLimit], LimitMissing]]:
    """`bet_limit_missing` for each of `currencies` (in order) that lacks one: (currency, the
    kind of limit, what is missing)."""
    found = ((code, bet_limit_missing(player=player, currency=code)) for code in currencies)
    return [(code, *missing) for code, missing in found if missing is not None]
