"""Every write to a player. Each change of status or responsible-gambling state is audited."""

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, QuerySet, Value
from django.db.models.functions import Greatest

from casino_platform import clock
from casino_platform.errors import ValidationFailed
from ledger.models import CURRENCY_CODE, Currency
from ledger.money import MAX_AMOUNT

from .errors import KycRequired, PlayerBlocked, PlayerNotFound, ResponsibleGamblingLimit
from .models import (
    BET_LIMITS,
    CoolingOffLimit,
    DailyPlayTimeLimit,
    DepositLimit,
    LossLimit,
    PeriodLimit,
    Player,
    PlayerAuditLog,
    PlayTimeLimit,
    SelfExclusionState,
    SessionTimeLimit,
    WagerLimit,
)
from .selectors import (
    LimitMissing,
    bet_limits_missing_in,
    player_daily_play_time,
    player_get,
    player_session_time_limit,
    utc_day_start,
)

if TYPE_CHECKING:
    from sessions.models import GameSession

# The contract's ceiling for an amount (wallet-api.md §2).
MAX_LIMIT = MAX_AMOUNT

# A session or daily play-time limit in minutes: at least one, at most a day (a longer
# session is the platform's own cap, SESSION_ABSOLUTE_TIMEOUT_SECONDS, anyway).
SESSION_TIME_LIMIT_MINUTES = (1, 24 * 60)
# Less of the day's play time than this left, a launch is refused: a session that ends before
# the game has loaded is no use to the player, and RG_LIMIT tells them when play resumes.
MIN_DAILY_PLAY_LEFT = timedelta(minutes=1)

L = TypeVar("L", bound=CoolingOffLimit)
P = TypeVar("P", bound=PeriodLimit)
T = TypeVar("T", bound=PlayTimeLimit)

logger = logging.getLogger(__name__)

# A new player's id: what the wallet API, URLs and CSV exports carry without escaping.
# "." and "..": clients drop them from a URL's path (RFC 3986), so such a player, once made,
# could not be reached again.
PLAYER_ID_RE = re.compile(r"(?!\.{1,2}\Z)[A-Za-z0-9._:@-]{1,64}")

AUDITED_FIELDS = (
    "display_name",
    "country",
    "status",
    "self_excluded_until",
    "timed_out_until",
    "kyc_status",
    "kyc_reference",
)


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


def player_register(
    *,
    player_id: str,
    changed_by: str,
    reason: str,
    display_name: str | None = None,
    country: str | None = None,
    kyc_status: str | None = None,
    kyc_reference: str | None = None,
    expected_kyc_status: str | None = None,
    on_recorded_country_move: Callable[[str], None] | None = None,
) -> tuple[Player, bool]:
    """The casino's player, created if new (True) or with the given fields changed (False);
    a field given as None is left as it is. Safe to call again and from racing requests: the
    loser of a race to create the player finds the winner's row and updates it. The fields
    are the casino's; status and restrictions are set by their own services.
    `expected_kyc_status`: the KYC status the caller's change was decided on; an existing
    player's is changed only from it (VALIDATION_ERROR otherwise), so that a retried "verified"
    sent before a revocation cannot verify the player again. `on_recorded_country_move`:
    player_update_by_staff's."""
    given = {
        "display_name": display_name,
        "country": country,
        "kyc_status": kyc_status,
        "kyc_reference": kyc_reference,
    }
    changes = {field: value for field, value in given.items() if value is not None}
    try:
        player: Player | None = player_get(player_id=player_id)
    except PlayerNotFound:
        player = None
    if player is None:
        # Only a new id is held to the pattern: staff may have created others in the admin.
        if not PLAYER_ID_RE.fullmatch(player_id):
            raise ValidationFailed(
                'A player id is 1-64 characters of A-Za-z0-9._:@- (not "." or "..")',
                details={"player_id": ["1-64 of A-Za-z0-9._:@-"]},
            )
        try:
            with transaction.atomic():
                player = player_create(
                    player_id=player_id,
                    display_name=changes.get("display_name", ""),
                    country=changes.get("country", ""),
                    changed_by=changed_by,
                    reason=reason,
                )
                rest = {field: value for field, value in changes.items() if field not in ("display_name", "country")}
                if rest:
                    # A player registered with a KYC status already known: audited like any change.
                    player = player_update(player=player, changed_by=changed_by, reason=reason, **rest)
            return player, True
        except IntegrityError:
            player = Player.objects.get(player_id=player_id)
    seen = {"kyc_status": expected_kyc_status} if expected_kyc_status is not None else None
    return player_update_by_staff(
        player=player,
        changed_by=changed_by,
        reason=reason,
        changes=changes,
        seen=seen,
        on_recorded_country_move=on_recorded_country_move,
    ), False


# A self-exclusion or time-out: what the player asked for, bound to hold until its end.
RESTRICTION_FIELDS = {"self_excluded_until": "self-exclusion", "timed_out_until": "time-out"}


def restriction_as_seen(*, current: datetime | None, seen: datetime | None) -> bool:
    """Whether a restriction's end is still what a page showed (to the second, as pages show it)."""
    if current is None or seen is None:
        return current is seen
    return current.replace(microsecond=0) == seen.replace(microsecond=0)


def restriction_ends_early(*, current: datetime | None, new: datetime | None, now: datetime) -> bool:
    """Whether setting a restriction's end to `new` ends one in force before its time: lifting
    it or bringing its end forward. Starting, extending or replacing a past one does not."""
    return current is not None and current > now and (new is None or new < current)


def player_update(*, player: Player, changed_by: str, reason: str, **changes: Any) -> Player:
    """Change audited fields of a player under its row lock; one audit row per changed field.
    A self-exclusion or time-out in force may start or grow, not end early."""
    return player_update_by_staff(player=player, changed_by=changed_by, reason=reason, changes=changes)


@transaction.atomic
def player_update_by_staff(
    *,
    player: Player,
    changed_by: str,
    reason: str,
    changes: dict[str, Any],
    seen: dict[str, Any] | None = None,
    lift_early: bool = False,
    on_recorded_country_move: Callable[[str], None] | None = None,
) -> Player:
    """player_update for staff's edits: a self-exclusion or time-out in force is ended or
    shortened only with `lift_early` (staff whom the operator allows to, the permission
    `players.lift_restriction`) and a reason for the audit log. `seen` holds fields as staff's
    page (or a script) read them: one changed since is not changed, and nothing is
    (VALIDATION_ERROR), so that a page opened before the player closed their account, or
    before their verification was revoked, cannot put the old value back.
    `on_recorded_country_move(recorded)` is called under the lock when the change moves a
    country already recorded: it raises for a caller not allowed to (the country decides the
    games a player may launch), so that one recorded since the caller looked is not moved."""
    unknown = set(changes) - set(AUDITED_FIELDS)
    if unknown:
        raise ValidationFailed(f"Not a player field: {', '.join(sorted(unknown))}")
    if "status" in changes and changes["status"] not in Player.Status.values:
        raise ValidationFailed(f"Unknown status {changes['status']!r}")
    if "kyc_status" in changes and changes["kyc_status"] not in Player.KycStatus.values:
        raise ValidationFailed(f"Unknown KYC status {changes['kyc_status']!r}")
    # As stored, not as `player` holds it (the admin's form has already set the posted values
    # on it): a repeat locks nothing, a move locks the sessions first.
    moves = "country" in changes and changes["country"] != (
        Player.objects.filter(pk=player.pk).values_list("country", flat=True).first()
    )
    if _stops_play(changes, now=clock.now()) or moves:
        # Its sessions, closed below, before the player: the order a debit locks them in.
        _open_sessions_lock(player.pk)
    locked = Player.objects.select_for_update().get(pk=player.pk)
    now = clock.now()
    changed = []
    resumes = locked.self_exclusion_resumes_at
    for field, new in changes.items():
        old = getattr(locked, field)
        if old == new:
            continue
        if seen is not None and field in seen:
            if field in RESTRICTION_FIELDS and not restriction_as_seen(current=old, seen=seen[field]):
                raise ValidationFailed(
                    f"The {RESTRICTION_FIELDS[field]} has changed since it was read: it is now "
                    f"{old.isoformat() if old else 'not set'}. Nothing was changed.",
                    details={field: ["changed since it was read"]},
                )
            if field not in RESTRICTION_FIELDS and old != seen[field]:
                raise ValidationFailed(
                    f"The player's {field} has changed since it was read: it is now {old!r}. Nothing was changed.",
                    details={field: ["changed since it was read"]},
                )
        if field == "country" and old and on_recorded_country_move is not None:
            on_recorded_country_move(old)
        if field in RESTRICTION_FIELDS and restriction_ends_early(current=old, new=new, now=now):
            _check_lift_early(field=field, current=old, lift_early=lift_early, reason=reason)
        if field == "self_excluded_until":
            resumes = _self_exclusion_resumes_after(player=locked, until=new, now=now)
            if _self_exclusion_lets_play(player=locked, until=new, resumes=resumes, now=now):
                # Cleared while play waits for the player's request, or its cooling-off: as
                # ending one in force early, whatever its end says.
                _check_lift_early(field=field, current=old, lift_early=lift_early, reason=reason, ended=True)
        setattr(locked, field, new)
        changed.append(field)
        _audit(player=locked, field=field, old=old, new=new, changed_by=changed_by, reason=reason)
    if resumes != locked.self_exclusion_resumes_at:
        _self_exclusion_resumes_at_set(player=locked, resumes=resumes, changed_by=changed_by, reason=reason)
        changed.append("self_exclusion_resumes_at")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
    if _stops_play({field: changes[field] for field in changed if field in changes}, now=now):
        # Play ends with the account, a block, a self-exclusion or a time-out, whoever made
        # it: the provider's next call on a session answers SESSION_EXPIRED and its game
        # stops, rather than offer bets the status or the restriction refuses one by one.
        _open_sessions(locked.pk).update(closed_at=clock.now())
    elif "country" in changed:
        if moves:
            # Its sessions are locked (above): swept now, in the order a debit locks them in.
            # Moved by someone else between the read and the lock, they are not, and the
            # sweep waits for the commit below rather than lock them after the player.
            _sessions_end_where_not_offered(player=locked)
        # Once more when this commits: a restriction saved meanwhile swept by the old country.
        transaction.on_commit(lambda: _sessions_end_where_not_offered_again(player_pk=locked.pk))
    return locked


def _self_exclusion_resumes_after(*, player: Player, until: datetime | None, now: datetime) -> datetime | None:
    """The player's self_exclusion_resumes_at once their self-exclusion's end becomes `until`.
    A new self-exclusion resumes at its end, or, where the player must ask to play again
    (RG_SELF_EXCLUSION_RESUME_ON_REQUEST), not until they have (None; set by
    player_self_exclusion_resume). One under way keeps the rule it started under when its end
    moves, and one whose player has yet to ask, or is cooling off, waits for a new request:
    neither a change of the setting nor a new end lets play resume unasked. A correction of an
    end already past keeps what the player did (a request dated before the new end counts as
    none, player_self_exclusion_state)."""
    if until is None:
        return None
    current, resumes = player.self_excluded_until, player.self_exclusion_resumes_at
    if current is not None:
        if until <= now and current <= now:
            return resumes
        state = player_self_exclusion_state(player=player, now=now)
        if state in (SelfExclusionState.AWAITING_REQUEST, SelfExclusionState.COOLING_OFF):
            return None
        if state == SelfExclusionState.IN_FORCE:
            # Started where play resumes at the end (the column set to it) or on request (empty).
            return until if resumes is not None and resumes >= current else None
    return None if settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST else until


def _self_exclusion_resumes_at_set(*, player: Player, resumes: datetime | None, changed_by: str, reason: str) -> None:
    """Set (unsaved) and audit when play resumes after the player's self-exclusion."""
    _audit(
        player=player,
        field="self_exclusion_resumes_at",
        old=player.self_exclusion_resumes_at,
        new=resumes,
        changed_by=changed_by,
        reason=reason,
    )
    player.self_exclusion_resumes_at = resumes


def self_exclusion_change_lets_play(*, player: Player, until: datetime | None, now: datetime) -> bool:
    """Whether setting the player's self-exclusion to end at `until` lets them play now where it
    refuses them: staff clearing one whose player has yet to ask to play again, or is in the
    cooling-off after asking. Ending one in force early is restriction_ends_early's."""
    resumes = _self_exclusion_resumes_after(player=player, until=until, now=now)
    return _self_exclusion_lets_play(player=player, until=until, resumes=resumes, now=now)


def _self_exclusion_lets_play(
    *, player: Player, until: datetime | None, resumes: datetime | None, now: datetime
) -> bool:
    if not player_self_exclusion_state(player=player, now=now).refuses_play:
        return False
    after = Player(self_excluded_until=until, self_exclusion_resumes_at=resumes)
    return not player_self_exclusion_state(player=after, now=now).refuses_play


def _stops_play(changes: dict[str, Any], *, now: datetime) -> bool:
    """Whether these changes end the player's play: the account's close, a block, or a
    self-exclusion or time-out in force (one ended or lifted does not)."""
    if changes.get("status") in (Player.Status.CLOSED, Player.Status.BLOCKED):
        return True
    return any(isinstance(until := changes.get(field), datetime) and until > now for field in RESTRICTION_FIELDS)


def _check_lift_early(
    *, field: str, current: datetime | None, lift_early: bool, reason: str, ended: bool = False
) -> None:
    noun = RESTRICTION_FIELDS[field]
    if not lift_early and ended and current is not None:
        raise ValidationFailed(
            f"The self-exclusion ended at {current.isoformat()}, but play resumes only once the player asks to play "
            "again and the cooling-off has passed: this change lets them play now, which only staff with the "
            "permission to end restrictions early can do, with a reason.",
            details={field: ["play waits for the player's request to play again"]},
        )
    if not lift_early and current is not None:
        raise ValidationFailed(
            f"The {noun} is in force until {current.isoformat()}; it can be extended, not ended early"
            " (staff with the permission to end restrictions early can, with a reason).",
            details={field: [f"before the current end, {current.isoformat()}"]},
        )
    if not reason.strip():
        raise ValidationFailed(
            f"Ending a {noun} early needs a reason for the audit log.", details={"reason": ["required"]}
        )


def player_block(*, player: Player, changed_by: str, reason: str) -> Player:
    """Block an account, a closed one too (its money, free to withdraw while closed, is then
    frozen); player_unblock gives a closure back."""
    return player_update(player=player, changed_by=changed_by, reason=reason, status=Player.Status.BLOCKED)


def player_unblock(*, player: Player, changed_by: str, reason: str) -> Player:
    """Lift a block: the account is active again, or closed if its player had closed it before
    the block (there is one status: the block hid the closure, the audit log kept it)."""
    blocked = (
        PlayerAuditLog.objects.filter(player_id=player.pk, field="status", new_value=Player.Status.BLOCKED)
        .order_by("-id")
        .values_list("old_value", flat=True)
        .first()
    )
    status = Player.Status.CLOSED if blocked == Player.Status.CLOSED else Player.Status.ACTIVE
    return player_update(player=player, changed_by=changed_by, reason=reason, status=status)


def player_close(*, player: Player, changed_by: str, reason: str) -> Player:
    """The player closes their account (through the casino): no more play or deposits, game
    sessions end, the money left stays theirs to withdraw and credits owed are still paid.
    Closing a closed account changes nothing. A blocked account is frozen for staff to look
    at, so the player cannot close it (which would let its money out); staff can."""
    with transaction.atomic():
        _open_sessions_lock(player.pk)  # before the player, as player_update_by_staff takes them
        locked = Player.objects.select_for_update().get(pk=player.pk)
        if locked.status == Player.Status.BLOCKED:
            raise PlayerBlocked(f"Player {locked.player_id} is blocked: staff close a blocked account.")
        return player_update(player=locked, changed_by=changed_by, reason=reason, status=Player.Status.CLOSED)


def player_self_exclude(*, player: Player, until: datetime, changed_by: str, reason: str) -> Player:
    return player_update(player=player, changed_by=changed_by, reason=reason, self_excluded_until=until)


def player_self_exclusion_resume(*, player: Player, changed_by: str, reason: str) -> Player:
    """The player asks to play again after their self-exclusion has ended (the UKGC's
    "positive action"): play resumes RG_SELF_EXCLUSION_RESUME_DELAY_HOURS from now. Asking
    again changes nothing, so that a retried request does not push the first one's time back;
    neither does asking with nothing to resume from. One in force is VALIDATION_ERROR: a
    self-exclusion is not ended early at the player's request."""
    with transaction.atomic():
        locked = Player.objects.select_for_update().get(pk=player.pk)
        now = clock.now()
        state = player_self_exclusion_state(player=locked, now=now)
        if state == SelfExclusionState.IN_FORCE:
            until = locked.self_excluded_until
            assert until is not None
            raise ValidationFailed(
                f"The self-exclusion is in force until {until.isoformat()}: the player can ask to play again "
                "once it has ended, not before.",
                details={"self_excluded_until": [f"in force until {until.isoformat()}"]},
            )
        if state != SelfExclusionState.AWAITING_REQUEST:
            return locked
        resumes = now + timedelta(hours=settings.RG_SELF_EXCLUSION_RESUME_DELAY_HOURS)
        # Set here only, not through player_update: its time is the request's, never a caller's.
        _self_exclusion_resumes_at_set(player=locked, resumes=resumes, changed_by=changed_by, reason=reason)
        locked.save(update_fields=["self_exclusion_resumes_at", "updated_at"])
        return locked


def player_time_out(*, player: Player, until: datetime, changed_by: str, reason: str) -> Player:
    return player_update(player=player, changed_by=changed_by, reason=reason, timed_out_until=until)


def _assert_self_exclusion_long_enough(*, now: datetime, until: datetime) -> None:
    """A new self-exclusion lasts at least RG_SELF_EXCLUSION_MIN_DAYS, the operator's
    regulator's minimum. One in force may be extended by any time: it met the minimum when
    it started, and refusing a player more time away protects nobody."""
    days = settings.RG_SELF_EXCLUSION_MIN_DAYS
    earliest = now + timedelta(days=days)
    if until < earliest:
        minimum = f"{days} day" if days == 1 else f"{days} days"
        raise ValidationFailed(
            f"A self-exclusion lasts at least {minimum} (RG_SELF_EXCLUSION_MIN_DAYS): until must be "
            f"{earliest.isoformat()} or later. A shorter break is a time-out.",
            details={"until": [f"at least {minimum} from now: {earliest.isoformat()} or later"]},
        )


def player_extend_restriction(*, player: Player, field: str, until: datetime, changed_by: str, reason: str) -> Player:
    """Self-exclusion or time-out as the player asks for it: it may start or grow, never
    shrink. Only staff allowed to end one early can (player_update_by_staff's `lift_early`)."""
    if field not in RESTRICTION_FIELDS:
        raise ValueError(field)
    now = clock.now()
    if until <= now:
        raise ValidationFailed("The end must be in the future.", details={"until": ["must be in the future"]})
    with transaction.atomic():
        _open_sessions_lock(player.pk)  # closed by the restriction: before the player, as a debit takes them
        locked = Player.objects.select_for_update().get(pk=player.pk)
        current = getattr(locked, field)
        if current is not None and current > until:
            raise ValidationFailed(
                f"Already in force until {current.isoformat()}; it can be extended, not shortened.",
                details={"until": [f"before the current end, {current.isoformat()}"]},
            )
        if field == "self_excluded_until" and (current is None or current <= now):
            _assert_self_exclusion_long_enough(now=now, until=until)
        return player_update(player=locked, changed_by=changed_by, reason=reason, **{field: until})


def _after_limit_change(model: type[CoolingOffLimit], player_pk: int, *, looser: bool = False) -> None:
    # A debit reads loss and wager limits only for a player flagged to have some: the others'
    # debits skip those reads.
    if model in BET_LIMITS:
        Player.objects.filter(pk=player_pk).update(
            has_bet_limits=any(kind.objects.filter(player_id=player_pk).exists() for kind in BET_LIMITS)
        )
        if looser:
            # A removal put in force by the sweep, which holds the player's lock without their
            # sessions': the sessions it leaves unlimited are closed once it commits, their
            # locks taken first. Robust: a failure there is logged, and is not taken for the
            # change's own, which has committed.
            transaction.on_commit(
                partial(_sessions_end_where_bet_limits_missing_again, player_pk=player_pk), robust=True
            )
    elif looser:
        # A looser play-time limit lengthens no open session, so there is nothing to shorten;
        # and the sweep that puts it in force holds the player's lock without their sessions'.
        return
    elif model is SessionTimeLimit:
        _sessions_end_within_limit(player_pk)
    elif model is DailyPlayTimeLimit:
        _sessions_end_within_day(player_pk)


def _sessions_end_where_bet_limits_missing(player_pk: int, *, changed_by: str) -> int:
    """After a change of the player's loss or wager limits: close their open sessions in a
    currency that now lacks a limit of a period they limit in another (the launch's rule,
    `bet_limit_missing`), since a debit is held only against its own currency's limits. Wins
    owed on a closed session are still paid. The caller holds the sessions' locks. How many
    were closed; each currency's close is on the player's audit log, saying why."""
    player = Player.objects.get(pk=player_pk)  # its has_bet_limits as this change left it
    now = clock.now()
    taking_bets = _sessions_taking_bets(player_pk, now=now)
    currencies = sorted(set(taking_bets.values_list("currency_id", flat=True)))
    closed = 0
    for currency, model, missing in bet_limits_missing_in(player=player, currencies=currencies):
        count = taking_bets.filter(currency_id=currency).update(closed_at=now)
        if count:
            player_sessions_closed_record(
                closed_by_player=[(player_pk, count)],
                changed_by=changed_by,
                reason=f"{currency} has no {model.noun} per {missing.period}, which "
                f"{', '.join(missing.limited_in)} has: a limit binds only its own currency's bets",
            )
        closed += count
    return closed


@transaction.atomic  # run on commit, outside the sweep's transaction: its locks need one of their own
def _sessions_end_where_bet_limits_missing_again(*, player_pk: int) -> int:
    _open_sessions_lock(player_pk)
    Player.objects.select_for_update().filter(pk=player_pk).first()
    return _sessions_end_where_bet_limits_missing(player_pk, changed_by="system")


def _sessions_end_within_limit(player_pk: int) -> None:
    """The player's open game sessions end no later than the session time limit in force
    after their start: a stricter limit shortens them at once, a looser one lengthens none.
    One already played longer than the limit ends now, not back-dated: its play until now
    happened (the daily play-time count holds it) and its bets were taken."""
    limit = player_session_time_limit(player_pk=player_pk)
    if limit is None:
        return
    end = Greatest(F("created_at") + timedelta(minutes=limit.amount), Value(clock.now(), DateTimeField()))
    _open_sessions(player_pk).filter(absolute_expires_at__gt=end).update(absolute_expires_at=end)


def _sessions_end_within_day(player_pk: int) -> None:
    """The player's open game sessions end when what the daily play-time limit leaves of
    today runs out (at once when nothing is left); a looser limit lengthens none."""
    now = clock.now()
    daily = player_daily_play_time(player_pk=player_pk, now=now)
    if daily is None:
        return
    end = now + daily.left
    _open_sessions(player_pk).filter(absolute_expires_at__gt=end).update(absolute_expires_at=end)


@transaction.atomic
def player_sessions_close(*, player: Player, changed_by: str = "", reason: str = "") -> int:
    """Close every open game session of the player (the casino's logout, or a suspected
    account takeover): the provider's next debit on any of them is SESSION_EXPIRED; wins owed
    are still paid. Staff's close (`changed_by`) goes to the player's audit log; the casino's
    logouts, as many as its players' logins, do not. How many were closed."""
    _open_sessions_lock(player.pk)
    now = clock.now()  # after the locks: a bet the close waited for came before it
    closed = _sessions_taking_bets(player.pk, now=now).update(closed_at=now)
    if closed and changed_by:
        player_sessions_closed_record(closed_by_player=[(player.pk, closed)], changed_by=changed_by, reason=reason)
    return closed


def player_sessions_closed_record(*, closed_by_player: Iterable[tuple[int, int]], changed_by: str, reason: str) -> None:
    """Staff's close of game sessions on each player's audit log: (player pk, how many were
    open), from the player's page or from the session list alike."""
    PlayerAuditLog.objects.bulk_create(
        PlayerAuditLog(
            player_id=player_pk,
            field="game_sessions",
            old_value=f"{closed} open",
            new_value="closed",
            changed_by=changed_by,
            reason=reason,
        )
        for player_pk, closed in closed_by_player
    )


def _sessions_end_where_not_offered(*, player: Player) -> int:
    """After the player's country changed: close their open sessions of games not offered in
    the new country (the launch's rule, game_offered_in), as a restriction saved by staff
    closes the sessions it no longer allows. The caller holds the sessions' locks; a session
    launched since it took them is left to the pass after the commit."""
    from provider.selectors import game_offered_in  # the catalogue's rule, one definition

    now = clock.now()
    not_offered = [
        session.pk
        for session in _sessions_taking_bets(player.pk, now=now).select_related("game__provider")
        if not game_offered_in(game=session.game, country=player.country)
    ]
    return _open_sessions(player.pk).filter(pk__in=not_offered).update(closed_at=now) if not_offered else 0


@transaction.atomic  # run on commit, outside the change's transaction: its locks need one of their own
def _sessions_end_where_not_offered_again(*, player_pk: int) -> int:
    _open_sessions_lock(player_pk)
    return _sessions_end_where_not_offered(player=Player.objects.get(pk=player_pk))


def _open_sessions(player_pk: int) -> "QuerySet[GameSession]":
    from sessions.models import GameSession  # sessions build on players, not the other way round

    return GameSession.objects.filter(player_id=player_pk, closed_at__isnull=True, absolute_expires_at__gt=clock.now())


def _sessions_taking_bets(player_pk: int, *, now: datetime) -> "QuerySet[GameSession]":
    """Of the open sessions, those not idle past their expiry either: what a close ends (an
    idle one can take no bet again, and keeps its state, expired)."""
    return _open_sessions(player_pk).filter(expires_at__gt=now)


def _open_sessions_lock(player_pk: int) -> None:
    """Lock the player's open game sessions before the player: the order a debit takes them
    in (it slides its session, then locks the wallet and the player), so that shortening
    them under the player's lock cannot deadlock with the player's play."""
    list(_open_sessions(player_pk).select_for_update().order_by("pk").values_list("pk", flat=True))


def player_session_end(*, player: Player, start: datetime, cap: timedelta) -> datetime:
    """When a game session of `player` launched at `start` ends at the latest: the platform's
    `cap`, or sooner under the player's session time limit or when their daily play-time
    limit's allowance for today runs out. With none of it left the launch is refused
    (RG_LIMIT) until the next UTC day.

    The sessions already open need no shortening: each ends, at the latest, when the
    allowance left at its own launch ran out, and while one is open the time left falls as fast as the clock
    moves, so none ends later than this launch's session (past midnight, a new day's
    allowance, it ends sooner). A limit set while they are open shortens them itself."""
    length = cap
    limit = player_session_time_limit(player_pk=player.pk)
    if limit is not None:
        length = min(length, timedelta(minutes=limit.amount))
    daily = player_daily_play_time(player_pk=player.pk, now=start)
    if daily is not None:
        if daily.left < MIN_DAILY_PLAY_LEFT:
            resumes = utc_day_start(start) + timedelta(days=1)
            minutes = daily.limit.amount
            raise ResponsibleGamblingLimit(
                f"Player {player.player_id} has played the {minutes} minutes of their daily play-time limit today; "
                f"play resumes at {resumes.isoformat()}.",
                details={"daily_play_time_limit": {"minutes": minutes, "resumes_at": resumes.isoformat()}},
            )
        length = min(length, daily.left)
    return start + length


def limit_missing_refusal(
    *, player: Player, currency: str, model: type[PeriodLimit], missing: LimitMissing, counted: str
) -> ResponsibleGamblingLimit:
    """RG_LIMIT for money in `currency` that a limit of `model` in another currency would bind
    and none in this one does (a limit counts only its own currency's `counted`): what to set,
    and where, in the message; `details.<kind>_missing` names the currency, the period and the
    currencies limited."""
    path = model.audit_name.replace("_", "-") + "s"
    return ResponsibleGamblingLimit(
        f"Player {player.player_id} has a {model.noun} per {missing.period} in {', '.join(missing.limited_in)} "
        f"and none in {currency}: set one in {currency} first (PUT /api/v1/players/{player.player_id}/{path}/"
        f"{currency}/{missing.period}); a limit counts only its own currency's {counted}.",
        details={
            f"{model.audit_name}_missing": {
                "currency": currency,
                "period": missing.period,
                "limited_in": missing.limited_in,
            }
        },
    )


def player_set_loss_limit(
    *, player: Player, currency: str, period: str, amount: int | None, changed_by: str, reason: str
) -> LossLimit | None:
    """Set (or with amount=None remove) a loss limit: what a debit is held against."""
    return _player_set_limit(
        LossLimit, player=player, currency=currency, period=period, amount=amount, changed_by=changed_by, reason=reason
    )


def player_set_wager_limit(
    *, player: Player, currency: str, period: str, amount: int | None, changed_by: str, reason: str
) -> WagerLimit | None:
    """Set (or with amount=None remove) a wager limit: the bets of a period, less those rolled
    back, that a debit is held against."""
    return _player_set_limit(
        WagerLimit, player=player, currency=currency, period=period, amount=amount, changed_by=changed_by, reason=reason
    )


def player_set_deposit_limit(
    *, player: Player, currency: str, period: str, amount: int | None, changed_by: str, reason: str
) -> DepositLimit | None:
    """Set (or with amount=None remove) a deposit limit: what a cashier deposit is held against."""
    return _player_set_limit(
        DepositLimit,
        player=player,
        currency=currency,
        period=period,
        amount=amount,
        changed_by=changed_by,
        reason=reason,
    )


@transaction.atomic
def _player_set_limit(
    model: type[P], *, player: Player, currency: str, period: str, amount: int | None, changed_by: str, reason: str
) -> P | None:
    """Set (or with amount=None remove) a loss, wager or deposit limit of one currency and period."""
    if period not in PeriodLimit.Period.values:
        raise ValidationFailed(f"Unknown period {period!r}", details={"period": ["day, week or month"]})
    if amount is not None and (type(amount) is not int or amount < 0 or amount > MAX_LIMIT):
        raise ValidationFailed(
            f"A {model.noun} is a non-negative integer in minor units, at most 10^15.",
            details={"amount": ["invalid"]},
        )
    # A disabled currency still takes limits: one set before it was disabled stays changeable.
    if not (CURRENCY_CODE.fullmatch(currency) and Currency.objects.filter(code=currency).exists()):
        raise ValidationFailed(f"No currency {currency!r} on this platform.", details={"currency": ["unknown"]})
    if model in BET_LIMITS:
        # The sessions this change may close, before the player: the order a debit locks them in.
        _open_sessions_lock(player.pk)
    limit = _limit_set(
        model,
        player=player,
        key={"currency_id": currency, "period": period},
        field=model.audit_field(period, currency),
        amount=amount,
        changed_by=changed_by,
        reason=reason,
    )
    if model in BET_LIMITS:
        _sessions_end_where_bet_limits_missing(player.pk, changed_by=changed_by)
    return limit


def player_set_session_time_limit(
    *, player: Player, minutes: int | None, changed_by: str, reason: str
) -> SessionTimeLimit | None:
    """Set (or with minutes=None remove) the longest a game session of the player may last.
    Stricter, it shortens the sessions already open; looser, it waits the cooling-off."""
    return _set_play_time_limit(SessionTimeLimit, player=player, minutes=minutes, changed_by=changed_by, reason=reason)


def player_set_daily_play_time_limit(
    *, player: Player, minutes: int | None, changed_by: str, reason: str
) -> DailyPlayTimeLimit | None:
    """Set (or with minutes=None remove) the most time the player may spend in game sessions
    in a UTC day. Stricter, it shortens the sessions already open to what is left of today
    (ends them when nothing is); looser, it waits the cooling-off."""
    return _set_play_time_limit(
        DailyPlayTimeLimit, player=player, minutes=minutes, changed_by=changed_by, reason=reason
    )


@transaction.atomic
def _set_play_time_limit(
    model: type[T], *, player: Player, minutes: int | None, changed_by: str, reason: str
) -> T | None:
    low, high = SESSION_TIME_LIMIT_MINUTES
    if minutes is not None and (type(minutes) is not int or not low <= minutes <= high):
        raise ValidationFailed(
            f"A {model.noun} is a whole number of minutes from {low} to {high}.",
            details={"minutes": ["invalid"]},
        )
    _open_sessions_lock(player.pk)
    return _limit_set(
        model, player=player, key={}, field=model.audit_name, amount=minutes, changed_by=changed_by, reason=reason
    )


def _limit_set(
    model: type[L], *, player: Player, key: dict[str, Any], field: str, amount: int | None, changed_by: str, reason: str
) -> L | None:
    """Set (or with amount=None remove) the player's limit of `model` under `key`; audited
    like every RG change. The caller has checked `amount` and holds a transaction.

    A new or stricter limit is in force at once and cancels a looser one still waiting. A
    looser limit or a removal waits RG_LIMIT_INCREASE_DELAY_SECONDS (pending_amount,
    pending_from), so that a player cannot lift a limit in the heat of a losing session;
    asking for the same again does not restart the wait. Returns the row as it stands,
    or None when there is no limit."""
    # The same lock a debit or a deposit takes: a limit never changes halfway through one.
    Player.objects.select_for_update().filter(pk=player.pk).first()
    existing = model.objects.filter(player=player, **key).first()
    now = clock.now()
    if existing is not None and existing.pending_from is not None and existing.pending_from <= now:
        # Its wait is over, the sweep just has not come by yet: this request is judged
        # against the limit that is in force by the rule, not the one the row still holds.
        existing = _apply_pending(existing, changed_by="system", reason=_cooling_off_ended(existing))
    delay = timedelta(seconds=settings.RG_LIMIT_INCREASE_DELAY_SECONDS)

    def audit(field: str, old: Any, new: Any) -> None:
        _audit(player=player, field=field, old=old, new=new, changed_by=changed_by, reason=reason)

    if existing is None:
        if amount is None:
            return None
        limit = model.objects.create(player=player, **key, amount=amount)
        audit(field, None, amount)
    elif (amount is not None and amount <= existing.amount) or not delay:
        # Stricter (or no cooling-off at all): in force now, and whatever waited is void.
        limit = existing
        if existing.pending_from is not None:
            audit(f"{field}_pending", _pending_text(existing), None)
        if amount != existing.amount:
            audit(field, existing.amount, amount)
        if amount is None:
            existing.delete()
            _after_limit_change(model, player.pk)
            return None
        limit.amount, limit.pending_amount, limit.pending_from = amount, None, None
        limit.save(update_fields=["amount", "pending_amount", "pending_from", "updated_at"])
    elif existing.pending_from is not None and existing.pending_amount == amount:
        return existing  # asked again for what is already waiting
    else:
        limit = existing
        old = _pending_text(existing) if existing.pending_from is not None else None
        limit.pending_amount, limit.pending_from = amount, now + delay
        limit.save(update_fields=["pending_amount", "pending_from", "updated_at"])
        audit(f"{field}_pending", old, _pending_text(limit))
    _after_limit_change(model, player.pk)
    return limit


def _pending_text(limit: CoolingOffLimit) -> str:
    assert limit.pending_from is not None
    what = "removal" if limit.pending_amount is None else str(limit.pending_amount)
    return f"{what} from {limit.pending_from.isoformat()}"


def _cooling_off_ended(limit: CoolingOffLimit) -> str:
    return f"cooling-off ended ({_pending_text(limit)})"


def _apply_pending(limit: L, *, changed_by: str, reason: str) -> L | None:
    """Put a waiting change in force, under the player's lock the caller holds; both audit
    trails (the limit's and the waiting change's) get their row. Returns the limit in force."""
    field = limit.audit_key()
    for audited, old, new in (
        (f"{field}_pending", _pending_text(limit), None),
        (field, limit.amount, limit.pending_amount),
    ):
        _audit(player=limit.player, field=audited, old=old, new=new, changed_by=changed_by, reason=reason)
    applied: L | None = limit
    if limit.pending_amount is None:
        limit.delete()
        applied = None
    else:
        limit.amount, limit.pending_amount, limit.pending_from = limit.pending_amount, None, None
        limit.save(update_fields=["amount", "pending_amount", "pending_from", "updated_at"])
    _after_limit_change(type(limit), limit.player_id, looser=True)
    return applied


def rg_limits_apply_due(*, now: datetime | None = None) -> int:
    """Put in force every looser limit (or removal) whose cooling-off has ended; one player's
    lock and transaction at a time, so one row that fails does not hold up the others.
    Returns how many changed."""
    now = now or clock.now()
    applied = 0
    kinds: tuple[type[CoolingOffLimit], ...] = (*BET_LIMITS, DepositLimit, SessionTimeLimit, DailyPlayTimeLimit)
    for model in kinds:
        due = model.objects.filter(pending_from__lte=now).order_by("pending_from").values_list("pk", "player_id")
        for pk, player_pk in list(due):
            try:
                with transaction.atomic():
                    Player.objects.select_for_update().filter(pk=player_pk).first()
                    limit = model.objects.select_related("player").filter(pk=pk, pending_from__lte=now).first()
                    if limit is None:
                        continue  # changed or applied since it was listed
                    _apply_pending(limit, changed_by="system", reason=_cooling_off_ended(limit))
                    applied += 1
            except SoftTimeLimitExceeded:
                raise  # the task's time is up: what is left is the next run's, not a failure of this one
            except Exception:
                logger.exception("%s %s: the waiting change could not be put in force", model.noun, pk)
    return applied


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


def player_not_active_message(*, player: Player) -> str:
    """Why a player who is not active may not play or deposit (PLAYER_BLOCKED either way, as
    the contract has one code for both): support reads it in the provider's logs."""
    if player.status == Player.Status.CLOSED:
        return f"Player {player.player_id} has closed their account."
    return f"Player {player.player_id} is blocked."


def player_assert_may_bet(*, player: Player, now: datetime | None = None) -> None:
    """Status, self-exclusion and time-out, in that order. Loss and wager limits are checked by
    the wallet."""
    now = now or clock.now()
    if player.status != Player.Status.ACTIVE:
        raise PlayerBlocked(player_not_active_message(player=player))
    if player.self_excluded_until is not None and (refusal := self_exclusion_refusal(player=player, now=now)):
        raise ResponsibleGamblingLimit(refusal)
    if player.timed_out_until and player.timed_out_until > now:
        raise ResponsibleGamblingLimit(
            f"Player {player.player_id} is on a time-out until {player.timed_out_until.isoformat()}."
        )


def player_self_exclusion_state(*, player: Player, now: datetime) -> SelfExclusionState:
    until = player.self_excluded_until
    if until is None:
        return SelfExclusionState.NONE
    if until > now:
        return SelfExclusionState.IN_FORCE
    resumes = player.self_exclusion_resumes_at
    if resumes is None or resumes < until:
        # No request, or one dated before this self-exclusion's end (written by something
        # that left the column behind): play waits for one.
        return SelfExclusionState.AWAITING_REQUEST
    if resumes > now:
        return SelfExclusionState.COOLING_OFF
    return SelfExclusionState.ENDED


def self_exclusion_refusal(*, player: Player, now: datetime) -> str | None:
    """Why the player's self-exclusion refuses play now, or None. Worded as the debit's
    database functions word it (wallet/sql/wallet_debit_v1.sql and v3)."""
    state = player_self_exclusion_state(player=player, now=now)
    until, resumes = player.self_excluded_until, player.self_exclusion_resumes_at
    if state == SelfExclusionState.IN_FORCE and until is not None:
        return f"Player {player.player_id} is self-excluded until {until.isoformat()}."
    if state == SelfExclusionState.AWAITING_REQUEST and until is not None:
        return (
            f"Player {player.player_id}'s self-exclusion ended at {until.isoformat()}:"
            " play resumes only once they ask to play again, after a cooling-off."
        )
    if state == SelfExclusionState.COOLING_OFF and resumes is not None:
        return (
            f"Player {player.player_id} asked to play again after their self-exclusion:"
            f" play resumes at {resumes.isoformat()}."
        )
    return None


def player_may_be_paid(*, player: Player) -> bool:
    """Money may leave for the player only once the casino has verified who they are
    (KYC_REQUIRED_FOR_WITHDRAWALS)."""
    return not settings.KYC_REQUIRED_FOR_WITHDRAWALS or player.kyc_status == Player.KycStatus.VERIFIED


def player_assert_may_be_paid(*, player: Player) -> None:
    """`player_may_be_paid`, or KYC_REQUIRED: a withdrawal's request and its approval both
    check it, under the player's lock, so a status changed meanwhile is the one that counts."""
    if not player_may_be_paid(player=player):
        raise KycRequired(
            f"Player {player.player_id}'s identity is not verified (KYC {player.kyc_status}): no payout until it is.",
            details={"kyc_status": player.kyc_status},
        )
