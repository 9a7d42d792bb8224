"""Game sessions and rounds: launch, validate, close; round bookkeeping for the wallet."""

import hashlib
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Least, Upper

from casino_platform import clock
from casino_platform.db import aware_datetime
from casino_platform.errors import Maintenance, ValidationFailed, valid_or_refused
from ledger.selectors import currency_get
from ledger.settings_audit import (
    setting_changes_record,
    setting_event_record,
    setting_snapshot,
    setting_update_or_create,
)
from players.models import Player
from players.selectors import bet_limit_missing
from players.services import (
    limit_missing_refusal,
    player_assert_may_bet,
    player_lock,
    player_session_end,
    player_sessions_closed_record,
)
from provider.errors import GameNotFound
from provider.models import Game, Provider, validate_country_codes
from provider.selectors import game_offered_in, game_restricted_countries, games_offered_by, players_not_offered

from .errors import SessionExpired, SessionNotFound
from .models import GameSession, OperatorApiKey, PlatformSwitch, Round, operator_scopes_held, validate_operator_scopes
from .selectors import sessions_in_state


def session_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_switch_cache: dict[str, tuple[float, bool]] = {}


def platform_switch_cache_clear() -> None:
    _switch_cache.clear()


def platform_switch_is_on(name: str) -> bool:
    """Read on every debit, so cached per process for PLATFORM_SWITCH_CACHE_SECONDS (1 s by
    default): a flip reaches every worker within that time, and a debit costs no query for it."""
    now = time.monotonic()
    hit = _switch_cache.get(name)
    if hit is not None and hit[0] > now:
        return hit[1]
    is_on = PlatformSwitch.objects.filter(name=name, is_on=True).exists()
    _switch_cache[name] = (now + settings.PLATFORM_SWITCH_CACHE_SECONDS, is_on)
    return is_on


@transaction.atomic
def platform_switch_set(*, name: str, is_on: bool, changed_by: str, reason: str = "") -> PlatformSwitch:
    if name not in PlatformSwitch.Name.values:
        raise ValidationFailed(f"Unknown switch {name!r}; known: {', '.join(PlatformSwitch.Name.values)}")
    switch, _ = setting_update_or_create(
        PlatformSwitch,
        changed_by=changed_by,
        reason=reason,
        defaults={"is_on": is_on, "changed_by": changed_by, "reason": reason},
        name=name,
    )
    platform_switch_cache_clear()
    transaction.on_commit(platform_switch_cache_clear)
    return switch


# How long after its last slide a session's idle expiry slides again on play, here and in the
# debit's database functions (interval '60 seconds'): an idle timeout
# (SESSION_IDLE_TIMEOUT_SECONDS) no longer than this expires before it would (sessions.E001).
SESSION_SLIDE_INTERVAL = timedelta(seconds=60)


def session_resolve(*, token: str, provider: Provider, touch: bool = True) -> GameSession:
    """The live session for `token`, sliding its expiry on activity (never past the cap)."""
    now = clock.now()
    session = _session_with_game(token_hash=session_token_hash(token), provider_id=provider.pk)
    if session is None:
        raise SessionNotFound("No session for this token.")
    if session.closed_at is not None or session.expires_at <= now or session.absolute_expires_at <= now:
        raise SessionExpired("The session has expired or was closed.")
    # Slide at most once a minute: a busy session must not rewrite its row on every bet.
    if touch and (now - session.last_seen_at) > SESSION_SLIDE_INTERVAL:
        idle = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_SECONDS)
        # Judged again on the row as committed (as wallet_debit_v1/v3 do): a close, or a limit
        # that ended it sooner, that this waited for is not slid past.
        slid = GameSession.objects.filter(
            pk=session.pk, closed_at__isnull=True, expires_at__gt=now, absolute_expires_at__gt=now
        ).update(last_seen_at=now, expires_at=Least(Value(now + idle), F("absolute_expires_at")))
        if not slid:
            raise SessionExpired("The session has expired or was closed.")
        session.last_seen_at = now
        session.expires_at = min(now + idle, session.absolute_expires_at)
    return session


def _session_with_game(*, token_hash: str, provider_id: int) -> GameSession | None:
    """One plain query on the hot path of every bet (the ORM's query building costs more
    than the query itself here)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, s.player_id, s.game_id, s.currency, s.locale, s.created_at, s.last_seen_at, s.expires_at,"
            f" s.absolute_expires_at, s.closed_at, g.game_id, g.name, g.game_type, g.is_enabled"
            f" FROM {GameSession._meta.db_table} s JOIN {Game._meta.db_table} g ON g.id = s.game_id"
            " WHERE s.token_hash = %s AND s.provider_id = %s",
            [token_hash, provider_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    game = Game(
        id=row[2], game_id=row[10], name=row[11], game_type=row[12], is_enabled=row[13], provider_id=provider_id
    )
    session = GameSession(
        id=row[0],
        token_hash=token_hash,
        provider_id=provider_id,
        player_id=row[1],
        game_id=row[2],
        currency_id=row[3],
        locale=row[4],
        created_at=aware_datetime(row[5]),
        last_seen_at=aware_datetime(row[6]),
        expires_at=aware_datetime(row[7]),
        absolute_expires_at=aware_datetime(row[8]),
        closed_at=aware_datetime(row[9]),
    )
    session.game = game
    return session


def round_get(*, provider: Provider, round_id: str) -> Round | None:
    return Round.objects.filter(provider=provider, round_id=round_id).first()


def round_debit_upsert(
    *, provider: Provider, round_id: str, player: Player, currency: str, game_id: str, amount: int, close: bool
) -> bool:
    """Open the round or add a debit to it, in one statement, only if it is open and this
    player's, in this currency and game. False means nothing was written: the caller reads the round to
    say why. Caller holds the player lock."""
    table = Round._meta.db_table
    now = clock.now()
    status = Round.Status.CLOSED if close else Round.Status.OPEN
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS r (provider_id, round_id, player_id, currency, game_id, status, debit_count,"
            " credit_count, rollback_count, total_debited, total_credited, opened_at, closed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 1, 0, 0, %s, 0, %s, %s)"
            " ON CONFLICT (provider_id, round_id) DO UPDATE SET debit_count = r.debit_count + 1,"
            " total_debited = r.total_debited + EXCLUDED.total_debited, status = EXCLUDED.status,"
            " closed_at = EXCLUDED.closed_at"
            " WHERE r.status = 'open' AND r.player_id = EXCLUDED.player_id AND r.currency = EXCLUDED.currency"
            " AND r.game_id = EXCLUDED.game_id"
            " RETURNING id",
            [provider.pk, round_id, player.pk, currency, game_id, status, amount, now, now if close else None],
        )
        return cursor.fetchone() is not None


def round_record_credit(
    *,
    provider: Provider,
    round_obj: Round | None,
    round_id: str,
    player: Player,
    currency: str,
    game_id: str,
    amount: int,
    close: bool,
) -> Round | None:
    """The credit on its round, opening it if `round_obj` is None. None when another wallet's
    call opened it meanwhile and committed first: the caller reads it again and judges the
    credit against it, as wallet_credit_v2 does."""
    now = clock.now()
    if round_obj is None:
        try:
            with transaction.atomic():
                return Round.objects.create(
                    provider=provider,
                    round_id=round_id,
                    player=player,
                    currency_id=currency,
                    game_id=game_id,
                    credit_count=1,
                    total_credited=amount,
                    status=Round.Status.CLOSED if close else Round.Status.OPEN,
                    # One instant for both, as wallet_credit_v2 writes them (never closed before it opened).
                    opened_at=now,
                    closed_at=now if close else None,
                )
        except IntegrityError:
            return None
    updates: dict[str, object] = {
        "credit_count": F("credit_count") + 1,
        "total_credited": F("total_credited") + amount,
    }
    if close and not round_obj.is_closed:
        updates.update(status=Round.Status.CLOSED, closed_at=now)
    Round.objects.filter(pk=round_obj.pk).update(**updates)
    return round_obj


def round_record_rollback(*, round_obj: Round, amount: int) -> None:
    Round.objects.filter(pk=round_obj.pk).update(
        rollback_count=F("rollback_count") + 1, total_debited=F("total_debited") - amount
    )


def game_get_enabled(*, game_id: str, provider: Provider) -> Game:
    game = Game.objects.filter(game_id=game_id, provider=provider, is_enabled=True).first()
    if game is None:
        raise GameNotFound(f"No enabled game {game_id!r} for provider {provider.code}.")
    return game


@transaction.atomic
def session_create(
    *, provider: Provider, player: Player, game: Game, currency: str, locale: str = ""
) -> tuple[GameSession, str]:
    """Launch a game. Returns the session and its token; only the token's hash is stored."""
    if platform_switch_is_on(PlatformSwitch.Name.MAINTENANCE) or platform_switch_is_on(
        PlatformSwitch.Name.NO_NEW_SESSIONS
    ):
        raise Maintenance("New game sessions are paused by the operator; retry later.")
    # Under the player's lock, like a change of their limits: a launch racing a stricter
    # session time limit either sees it or is there for it to shorten.
    player = player_lock(pk=player.pk)
    player_assert_may_bet(player=player)
    if not game.is_enabled or game.provider_id != provider.pk or not provider.is_enabled:
        raise GameNotFound(f"Game {game.game_id} is not available.")
    if not game_offered_in(game=game, country=player.country):
        where = f"in {player.country}" if player.country else "to a player whose country is not recorded"
        raise GameNotFound(f"Game {game.game_id} is not offered {where}.")
    # Money comes in only in an enabled currency: bets of sessions launched before it was
    # disabled are still taken, and wins owed are always paid. The wallet and its currency
    # in one read; a refusal says which it is.
    enabled = player.wallets.filter(currency_id=currency).values_list("currency__is_enabled", flat=True).first()
    if enabled is not True:
        currency_get(code=currency, enabled_only=True)  # an unknown or disabled currency's refusal
        raise ValidationFailed(
            f"Player {player.player_id} has no {currency} wallet.", details={"currency": ["no wallet"]}
        )
    _assert_bet_limits_bind(player=player, currency=currency)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    # Under the player's session time limit, if they set one.
    ends_at = player_session_end(
        player=player, start=now, cap=timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS)
    )
    session = GameSession.objects.create(
        token_hash=session_token_hash(token),
        provider=provider,
        player=player,
        game=game,
        currency_id=currency,
        locale=locale,
        # The instant its end was counted from: its span is exactly what the limits allowed.
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_SECONDS), ends_at),
        absolute_expires_at=ends_at,
    )
    return session, token


def _assert_bet_limits_bind(*, player: Player, currency: str) -> None:
    """A debit is held only against the loss and wager limits of its own currency, so a
    player who limits a period in one currency launches in another only once it has a limit
    of that period too (as a deposit limit binds deposits): RG_LIMIT naming what is missing."""
    found = bet_limit_missing(player=player, currency=currency)
    if found is not None:
        model, missing = found
        raise limit_missing_refusal(player=player, currency=currency, model=model, missing=missing, counted="bets")


def sessions_end_where_not_offered(*, games: Iterable[Game], again_after_commit: bool = True) -> int:
    """After a change of where these games are offered (their own or their provider's
    restricted countries): close their open sessions whose players the launch would now
    refuse (game_offered_in's rule), so a restriction stops play already going on, not only
    the next launch; the debit, which does not read the lists, then finds the session closed.
    Credits owed are still paid. How many were closed.

    Reads only sessions that may still be live (session_game_live), one query per distinct
    list rather than per game, and locks them in id order, the order the player's services
    lock a player's sessions in. Once the caller's transaction commits it runs once more: a
    launch that read the lists before the change and committed after this pass is closed then."""
    games = list(games)
    now = clock.now()
    by_list: dict[frozenset[str] | None, list[int]] = {}
    for game in games:
        by_list.setdefault(game_restricted_countries(game=game), []).append(game.pk)
    not_offered = Q()
    for restricted, game_ids in by_list.items():
        players = players_not_offered(restricted=restricted, country="country")
        if players is not None:
            not_offered |= Q(game_id__in=game_ids) & players
    closed = 0
    if not_offered:
        live = GameSession.objects.filter(closed_at__isnull=True, absolute_expires_at__gt=now, expires_at__gt=now)
        with transaction.atomic():
            ids = list(
                live.alias(country=Upper("player__country"))
                .filter(not_offered)
                .select_for_update(of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            closed = _sessions_close_by_id(ids, now=now)
    if again_after_commit:
        game_ids = [game.pk for game in games]
        transaction.on_commit(
            lambda: sessions_end_where_not_offered(
                games=Game.objects.filter(pk__in=game_ids).select_related("provider"), again_after_commit=False
            )
        )
    return closed


@transaction.atomic
def restricted_countries_change(
    *,
    target: Provider | Game,
    changed_by: str,
    replace: Iterable[str] | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    reason: str = "",
) -> tuple[list[str], list[str], int]:
    """Change where a provider's or a game's games are not offered, as the admin's page does:
    the change in the settings trail and the open sessions it no longer allows closed
    (sessions_end_where_not_offered), all in one transaction. `replace` sets the list, then
    `add` and `remove` apply, to the list read under the row's lock so that a change
    committed meanwhile is kept. Codes are taken in any case. Returns the list before, the
    list after and how many sessions were closed; a change that leaves the list as it was
    records and closes nothing.

    The row is locked FOR NO KEY UPDATE, which serialises the writers of its settings but
    not a bet opening a round (or a launch) that refers to it: FOR UPDATE made such a bet,
    holding the session this then locks, wait for the row, a deadlock."""
    locked = type(target)._default_manager.select_for_update(no_key=True).get(pk=target.pk)
    before = locked.restricted_countries
    if replace is None and not (isinstance(before, list) and all(isinstance(code, str) for code in before)):
        # Written around the admin; the launch offers such a game nowhere.
        raise ValidationFailed(
            f"The stored list is not a list of country codes ({before!r}): give the whole list.",
            details={"restricted_countries": ["not a list of codes"]},
        )
    after = _country_codes(before if replace is None else replace) + _country_codes(add)
    dropped = _country_codes(remove)
    after = [code for code in dict.fromkeys(after) if code not in dropped]
    if after == before:
        return before, after, 0
    snapshot = setting_snapshot(locked)
    locked.restricted_countries = after
    locked.save(update_fields=["restricted_countries"])
    setting_changes_record(obj=locked, before=snapshot, changed_by=changed_by, reason=reason)
    target.restricted_countries = after
    return before, after, sessions_end_where_not_offered(games=games_offered_by(locked))


def _country_codes(codes: Iterable[str]) -> list[str]:
    """Country codes as given, in capitals (blanks left out); VALIDATION_ERROR unless each is
    an ISO 3166-1 alpha-2 code."""
    upper = [code.strip().upper() for code in codes if code.strip()]
    try:
        validate_country_codes(list(dict.fromkeys(upper)))
    except DjangoValidationError as e:
        raise ValidationFailed(e.messages[0], details={"restricted_countries": e.messages}) from None
    return upper


@transaction.atomic
def sessions_close(*, sessions: QuerySet[GameSession], changed_by: str, reason: str) -> int:
    """Staff's close of chosen game sessions (a suspected takeover of one game): the open ones
    among them (session_state's `open`: neither idle past their expiry nor past their end,
    which keep their state) locked in id order, as every close of several locks them, then
    closed. The selection stays in the database (a whole provider's sessions can be chosen at
    once). The provider's next debit on one is SESSION_EXPIRED; wins owed are still paid.
    Each player whose sessions were closed has it in their audit log, as a close from the
    player's page does. How many were closed."""
    chosen = GameSession.objects.filter(pk__in=sessions.values("pk"))
    locked = list(
        sessions_in_state(chosen, state="open", now=clock.now())
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "player_id", "expires_at", "absolute_expires_at")
    )
    now = clock.now()  # after the locks: a bet the close waited for came before it
    # Counted from the rows locked, not by running the selection again: a list filtered to
    # the open sessions no longer holds them once closed, and their players' audit went
    # unwritten. Judged again at `now`: one may have run out while the close waited.
    taking_bets = [(pk, player_pk) for pk, player_pk, idle, end in locked if min(idle, end) > now]
    closed = _sessions_close_by_id([pk for pk, _ in taking_bets], now=now)
    per_player = Counter(player_pk for _, player_pk in taking_bets)
    player_sessions_closed_record(closed_by_player=sorted(per_player.items()), changed_by=changed_by, reason=reason)
    return closed


def _sessions_close_by_id(ids: list[int], *, now: datetime) -> int:
    """Close these sessions at `now`, a few thousand ids a statement, within PostgreSQL's bound
    on a statement's parameters. How many were closed."""
    closed = 0
    for start in range(0, len(ids), 5000):
        closed += GameSession.objects.filter(pk__in=ids[start : start + 5000]).update(closed_at=now)
    return closed


def session_close(*, session: GameSession) -> GameSession:
    """Close the session once: its `closed_at` is the first close's, whoever made it. The row
    is written only while still open, so a close that read it open and raced another (the
    casino's own retry, a logout, staff, a restriction) answers that one's time rather than
    moving it later (which could turn a `closed` session into an `expired` one)."""
    if session.closed_at is None:
        now = clock.now()
        if GameSession.objects.filter(pk=session.pk, closed_at__isnull=True).update(closed_at=now):
            session.closed_at = now
        else:
            session.closed_at = GameSession.objects.values_list("closed_at", flat=True).get(pk=session.pk)
    return session


@transaction.atomic
def operator_api_key_ensure(*, name: str, key: str, changed_by: str = "system") -> OperatorApiKey:
    """Create or re-key (and re-activate, with every scope) the named operator API key (used
    by seed_sandbox)."""
    key_hash = session_token_hash(key)
    old_hash = OperatorApiKey.objects.filter(name=name).values_list("key_hash", flat=True).first()
    api_key, _ = setting_update_or_create(
        OperatorApiKey,
        changed_by=changed_by,
        defaults={"key_hash": key_hash, "prefix": key[:6], "is_active": True, "scopes": OperatorApiKey.Scope.values},
        name=name,
    )
    if old_hash != key_hash:
        setting_event_record(obj=api_key, event="key", value=f"set: {api_key.prefix}…", changed_by=changed_by)
    return api_key


@transaction.atomic
def operator_api_key_create(
    *, name: str, scopes: Iterable[str], rate_limit_per_second: int = 0, changed_by: str = "system"
) -> tuple[OperatorApiKey, str]:
    """A new key under a new name, holding `scopes`; only its hash is stored, the key is
    returned once."""
    if OperatorApiKey.objects.filter(name=name).exists():
        raise ValidationFailed(f"An operator key named {name!r} exists.", details={"name": ["exists"]})
    given = list(scopes)
    try:
        validate_operator_scopes(list(dict.fromkeys(given)) if all(isinstance(s, str) for s in given) else given)
    except DjangoValidationError as e:
        raise ValidationFailed(f"Scopes: {e.messages[0]}", details={"scopes": e.messages}) from None
    granted = operator_scopes_held(given)  # in one order, for the trail
    key = secrets.token_urlsafe(32)
    if rate_limit_per_second < 0:
        raise ValidationFailed("The rate limit is 0 (none) or more.", details={"rate_limit_per_second": ["negative"]})
    api_key = OperatorApiKey(
        name=name,
        key_hash=session_token_hash(key),
        prefix=key[:6],
        scopes=granted,
        rate_limit_per_second=rate_limit_per_second,
    )
    valid_or_refused(api_key)
    api_key.save()
    setting_changes_record(obj=api_key, before=None, changed_by=changed_by)
    setting_event_record(obj=api_key, event="key", value=f"issued: {api_key.prefix}…", changed_by=changed_by)
    return api_key, key


def operator_api_key_mark_used(*, api_key: OperatorApiKey) -> None:
    """Stamp the key's last use, at most once a minute: staff see which keys are still in use
    before they narrow or deactivate one, and a busy key costs one write a minute, not one a
    call. The stamp is written outside the call's transaction and survives its refusal."""
    now = clock.now()
    a_minute_ago = now - timedelta(minutes=1)
    if api_key.last_used_at is None or api_key.last_used_at <= a_minute_ago:
        api_key.last_used_at = now
        # Of calls racing at the minute's turn, one writes.
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=a_minute_ago)
        OperatorApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)


def session_launch_url(*, session: GameSession, token: str) -> str:
    """The provider's launch URL for this session; the sandbox's own page by default."""
    from urllib.parse import quote

    template = session.provider.launch_url_template or (
        settings.PUBLIC_BASE_URL.rstrip("/") + "/sandbox/play/?token={token}&game_id={game_id}&locale={locale}"
    )
    return template.format(
        # Every placeholder a URL component of its own: a "/" in a game id is not a path step.
        token=quote(token, safe=""),
        session_id=session.pk,
        game_id=quote(session.game.game_id, safe=""),
        locale=quote(session.locale, safe=""),
    )
