"""Players and their responsible-gambling state. Loss limits are in minor units."""

from django.db import models


class Player(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"

    player_id = models.CharField(max_length=64, unique=True, help_text="The operator's player id, e.g. p_demo_1.")
    display_name = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    self_excluded_until = models.DateTimeField(null=True, blank=True)
    timed_out_until = models.DateTimeField(null=True, blank=True)
    has_loss_limits = models.BooleanField(
        default=False, editable=False, help_text="Kept by the service: a debit reads loss limits only when set."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["player_id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["active", "blocked"]), name="player_status_valid"),
        ]

    def __str__(self) -> str:
        return self.player_id

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class LossLimit(models.Model):
    """The most a player may lose (debits minus credits) in one period, per currency.

    `amount` is the limit in force, the one a debit reads. A stricter limit applies at once;
    a looser one, or the limit's removal, waits for a cooling-off period
    (RG_LIMIT_INCREASE_DELAY_SECONDS) as `pending_amount` (None: removal) from `pending_from`,
    and the sweep (players.tasks) puts it in force then. A late sweep only keeps the
    stricter limit longer."""

    class Period(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="loss_limits")
    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, db_column="currency")
    period = models.CharField(max_length=8, choices=Period.choices)
    amount = models.BigIntegerField(help_text="Minor units; the limit in force.")
    pending_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units; the looser limit asked for, in force from pending_from."
    )
    pending_from = models.DateTimeField(
        null=True, blank=True, help_text="When the pending change takes effect; with no pending amount, removal."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["player", "currency", "period"], name="loss_limit_one_per_period"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="loss_limit_non_negative"),
            # Only a looser limit waits: a pending amount is above the one in force and has its time.
            models.CheckConstraint(
                condition=models.Q(pending_amount__isnull=True)
                | (models.Q(pending_amount__gt=models.F("amount")) & models.Q(pending_from__isnull=False)),
                name="loss_limit_pending_is_looser",
            ),
        ]
        indexes = [
            models.Index(
                fields=["pending_from"], name="loss_limit_pending", condition=models.Q(pending_from__isnull=False)
            )
        ]

    def __str__(self) -> str:
        return f"{self.player_id} {self.period} {self.amount} {self.currency_id}"

    @property
    def pending_removal(self) -> bool:
        return self.pending_from is not None and self.pending_amount is None


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

    def __str__(self) -> str:
        return f"{self.player_id}.{self.field}: {self.old_value} -> {self.new_value}"
