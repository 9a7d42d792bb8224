"""Players and their responsible-gambling state. Loss, wager and deposit limits are in minor
units, session and daily play-time limits in minutes."""

from typing import TYPE_CHECKING, ClassVar, Self

from django.db import models

from casino_platform.validators import country_code

# The KYC provider's id of a check, as long as the column holds.
KYC_REFERENCE_LENGTH = 120


class Player(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"
        # At the player's request: no play, no deposits; their money may still be withdrawn.
        CLOSED = "closed", "Closed by the player"

    class KycStatus(models.TextChoices):
        # Where the casino's identity check (its KYC provider's answer) stands for this player.
        UNVERIFIED = "unverified", "Not verified"
        PENDING = "pending", "Being checked"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    player_id = models.CharField(max_length=64, unique=True, help_text="The operator's player id, e.g. p_demo_1.")
    display_name = models.CharField(max_length=120, blank=True)
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[country_code],
        help_text="ISO 3166-1 alpha-2, in capitals.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    self_excluded_until = models.DateTimeField(null=True, blank=True)
    self_exclusion_resumes_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=(
            "When play may resume after the self-exclusion: its end, or, where the player must ask to play "
            "again (RG_SELF_EXCLUSION_RESUME_ON_REQUEST), their request plus the cooling-off; empty until they ask."
        ),
    )
    timed_out_until = models.DateTimeField(null=True, blank=True)
    has_bet_limits = models.BooleanField(
        default=False,
        editable=False,
        help_text="Kept by the service: a debit reads the player's loss and wager limits only when there are some.",
    )
    kyc_status = models.CharField(
        "KYC status",
        max_length=16,
        choices=KycStatus.choices,
        default=KycStatus.UNVERIFIED,
        help_text="The casino's identity check: with KYC_REQUIRED_FOR_WITHDRAWALS, only a verified player is paid.",
    )
    kyc_reference = models.CharField(
        "KYC reference",
        max_length=KYC_REFERENCE_LENGTH,
        blank=True,
        help_text="The KYC provider's id of the check, for support.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["player_id"]
        permissions = [
            # Whether staff may lift what a player asked for is the operator's policy, with its
            # regulator: it gives this to whom it chooses (compliance), or to nobody.
            ("lift_restriction", "Can end a self-exclusion or time-out early"),
            # A verified player is paid out, and the country decides the games a player may
            # launch: compliance's decisions, not every editor's.
            ("change_kyc", "Can change a player's KYC status and recorded country"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "blocked", "closed"]), name="player_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kyc_status__in=["unverified", "pending", "verified", "rejected"]),
                name="player_kyc_status_valid",
            ),
        ]
        indexes = [
            # Closed accounts are few and looked for (still holding money? /metrics, the
            # admin's filter): found without reading every player.
            models.Index(fields=["id"], condition=models.Q(status="closed"), name="player_closed_idx"),
            # The admin's country filter lists the countries along it, not by reading every player.
            models.Index(fields=["country"], name="player_country_idx"),
            # The admin's self-exclusion filter and gauges read the players who have one, in
            # the order of its end, not every player.
            models.Index(
                fields=["self_excluded_until"],
                condition=models.Q(self_excluded_until__isnull=False),
                name="player_self_excluded_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.player_id

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class SelfExclusionState(models.TextChoices):
    """Where a player's self-exclusion stands (players.services.player_self_exclusion_state)."""

    NONE = "none", "No self-exclusion"
    IN_FORCE = "in_force", "In force"
    # Ended, where the player must ask to play again (RG_SELF_EXCLUSION_RESUME_ON_REQUEST).
    AWAITING_REQUEST = "awaiting_request", "Ended; play resumes only once the player asks"
    COOLING_OFF = "cooling_off", "Ended; the player asked, play resumes after the cooling-off"
    ENDED = "ended", "Ended; play has resumed"

    @property
    def refuses_play(self) -> bool:
        return self not in (SelfExclusionState.NONE, SelfExclusionState.ENDED)


class CoolingOffLimit(models.Model):
    """A responsible-gambling limit a player sets on themselves.

    `amount` is the limit in force, the one play is held against. A stricter limit applies at
    once; a looser one, or the limit's removal, waits for a cooling-off period
    (RG_LIMIT_INCREASE_DELAY_SECONDS) as `pending_amount` (None: removal) from `pending_from`,
    and the sweep (players.tasks) puts it in force then. A late sweep only keeps the
    stricter limit longer. players/services.py keeps these rules for every kind."""

    # What the audit log and messages call this kind of limit (e.g. loss_limit_day_EUR).
    audit_name = ""
    noun = ""

    if TYPE_CHECKING:
        objects: ClassVar[models.Manager[Self]]

    # Each concrete limit declares its own, for its related_name.
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="+")
    amount = models.BigIntegerField(help_text="Minor units; the limit in force.")
    pending_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units; the looser limit asked for, in force from pending_from."
    )
    pending_from = models.DateTimeField(
        null=True, blank=True, help_text="When the pending change takes effect; with no pending amount, removal."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def audit_key(self) -> str:
        """This limit's name in the audit log."""
        return self.audit_name

    @property
    def pending_removal(self) -> bool:
        return self.pending_from is not None and self.pending_amount is None

    @staticmethod
    def rules(prefix: str, one_per: tuple[str, ...] = ()) -> tuple[list[models.BaseConstraint], list[models.Index]]:
        """Each concrete limit's constraints and index, named after its table; `one_per`: the
        fields of which a player has one limit (none when `player` is one-to-one)."""
        constraints: list[models.BaseConstraint] = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name=f"{prefix}_non_negative"),
            # Only a looser limit waits: a pending amount is above the one in force and has its time.
            models.CheckConstraint(
                condition=models.Q(pending_amount__isnull=True)
                | (models.Q(pending_amount__gt=models.F("amount")) & models.Q(pending_from__isnull=False)),
                name=f"{prefix}_pending_is_looser",
            ),
        ]
        if one_per:
            constraints.insert(0, models.UniqueConstraint(fields=list(one_per), name=f"{prefix}_one_per_period"))
        indexes = [
            models.Index(
                fields=["pending_from"], name=f"{prefix}_pending", condition=models.Q(pending_from__isnull=False)
            )
        ]
        return constraints, indexes


class PeriodLimit(CoolingOffLimit):
    """A limit per currency and period (UTC day, ISO week, calendar month), in minor units."""

    class Period(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, db_column="currency")
    period = models.CharField(max_length=8, choices=Period.choices)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.player_id} {self.period} {self.noun} {self.amount} {self.currency_id}"

    @classmethod
    def audit_field(cls, period: str, currency: str) -> str:
        return f"{cls.audit_name}_{period}_{currency}"

    def audit_key(self) -> str:
        return self.audit_field(self.period, self.currency_id)

    @staticmethod
    def period_rules(prefix: str) -> tuple[list[models.BaseConstraint], list[models.Index]]:
        return CoolingOffLimit.rules(prefix, one_per=("player", "currency", "period"))


class LossLimit(PeriodLimit):
    """The most a player may lose (debits minus credits and rollbacks) in one period, per
    currency; read by every debit (the debit's SQL function reads this table)."""

    audit_name = "loss_limit"
    noun = "loss limit"

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="loss_limits")

    class Meta:
        constraints, indexes = PeriodLimit.period_rules("loss_limit")


class WagerLimit(PeriodLimit):
    """The most a player may wager (bets less those rolled back) in one period, per currency,
    whatever they win back; read by every debit of a player who has one, as loss limits are."""

    audit_name = "wager_limit"
    noun = "wager limit"

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="wager_limits")

    class Meta:
        constraints, indexes = PeriodLimit.period_rules("wager_limit")


# The limits every debit of the player is held against (Player.has_bet_limits), in the order
# a debit checks them.
BET_LIMITS: tuple[type[PeriodLimit], ...] = (LossLimit, WagerLimit)


class DepositLimit(PeriodLimit):
    """The most a player may deposit through the cashier in one period, per currency."""

    audit_name = "deposit_limit"
    noun = "deposit limit"

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="deposit_limits")

    class Meta:
        constraints, indexes = PeriodLimit.period_rules("deposit_limit")


class PlayTimeLimit(CoolingOffLimit):
    """A limit on time in game sessions, in minutes, one per player: it is held by each game
    session's end (`absolute_expires_at`), so a debit after it is refused (SESSION_EXPIRED)
    and owed credits are still paid."""

    amount = models.IntegerField(help_text="Minutes; the limit in force.")
    pending_amount = models.IntegerField(
        null=True, blank=True, help_text="Minutes; the longer limit asked for, in force from pending_from."
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.player_id} {self.noun} {self.amount} min"


class SessionTimeLimit(PlayTimeLimit):
    """The longest a player's game session may last, whatever the activity in it: a launch
    ends its session that long after it starts, and a stricter limit shortens the sessions
    already open."""

    audit_name = "session_time_limit"
    noun = "session time limit"

    player = models.OneToOneField(Player, on_delete=models.CASCADE, related_name="session_time_limit")

    class Meta:
        constraints, indexes = CoolingOffLimit.rules("session_time_limit")


class DailyPlayTimeLimit(PlayTimeLimit):
    """The most time a player may spend in game sessions in a UTC day, sessions open side by
    side counted once: a launch's session ends when what is left of the day's allowance runs
    out, a launch with nothing left is refused (RG_LIMIT), and a stricter limit shortens the
    sessions already open (players.selectors.player_play_time says what counts)."""

    audit_name = "daily_play_time_limit"
    noun = "daily play-time limit"

    player = models.OneToOneField(Player, on_delete=models.CASCADE, related_name="daily_play_time_limit")

    class Meta:
        constraints, indexes = CoolingOffLimit.rules("daily_play_time_limit")


class PlayerAuditLog(models.Model):
    """Every change to a player's status or responsible-gambling state: who, when, old, new, why."""

    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="audit_log")
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    changed_by = models.CharField(max_length=150)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            # The admin's search by who made a change, and its filter by field (whose values it
            # lists along the index), each newest first.
            models.Index(fields=["changed_by", "changed_at"], name="player_audit_by_idx"),
            models.Index(fields=["field", "changed_at"], name="player_audit_field_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.player_id}.{self.field}: {self.old_value} -> {self.new_value}"
