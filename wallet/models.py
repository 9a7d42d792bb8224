"""Wallets: one per player and currency. `balance` is integer minor units, a cache of the
sum of the wallet's ledger account entries (reconciliation proves they agree)."""

from django.db import models

from casino_platform.db import WritingTransactionId


class Wallet(models.Model):
    # No index of their own: (player, currency)'s unique key serves lookups by player, and a
    # currency alone (the admin's filter) matches too large a share of all wallets for an
    # index to help. Every UPDATE of a wallet opens each of its indexes, and every money
    # movement updates one (docs/performance.md, 2026-12-03 evening).
    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="wallets", db_index=False)
    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, db_column="currency", db_index=False)
    balance = models.BigIntegerField(default=0)
    account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="wallet")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["player_id", "currency_id"]
        constraints = [
            models.UniqueConstraint(fields=["player", "currency"], name="wallet_one_per_currency"),
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="wallet_balance_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.player_id}/{self.currency_id}"


class RollbackTombstone(models.Model):
    """A rollback arrived for a debit we never saw; that debit is refused if it comes later."""

    provider_code = models.CharField(max_length=64)
    transaction_id = models.CharField(max_length=128)
    rollback_transaction_id = models.CharField(max_length=128)
    player_id_text = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_code", "transaction_id"], name="tombstone_once_per_transaction"),
        ]
        # Staff's search by a player (wallet.selectors.tombstone_search).
        indexes = [models.Index(fields=["player_id_text"], name="tombstone_player_idx")]

    def __str__(self) -> str:
        return f"{self.provider_code}:{self.transaction_id}"


class Withdrawal(models.Model):
    """A withdrawal with a payment reference, and where it stands. The money is in the journal:
    a pending withdrawal's amount sits on the currency's `withdrawals_pending` account (still
    owed to the player, no longer spendable) until staff approve it (on to `cash_out`) or it is
    rejected or cancelled (back to the wallet). `status` is the only field that changes, always
    under this row's lock and together with the journal transaction that moves the money."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved (to be paid)"
        REJECTED = "rejected", "Rejected by staff"
        CANCELLED = "cancelled", "Cancelled by the operator"
        RETURNED = "returned", "Returned (payout failed)"

    reference = models.CharField(max_length=128, unique=True, help_text="The payment system's reference.")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="withdrawals")
    amount = models.BigIntegerField(help_text="Minor units of the wallet's currency.")
    status = models.CharField(max_length=16, choices=Status.choices)
    review_reason = models.CharField(
        max_length=200, blank=True, help_text="Why it waited for staff: empty for one paid at once."
    )
    requested_by = models.CharField(max_length=160)
    requested_at = models.DateTimeField()
    request_journal = models.OneToOneField(
        "ledger.JournalTransaction", on_delete=models.PROTECT, related_name="withdrawal_requested"
    )
    decided_by = models.CharField(max_length=160, blank=True, help_text="Who approved, rejected or cancelled it.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_memo = models.CharField(max_length=200, blank=True)
    approval_journal = models.OneToOneField(
        "ledger.JournalTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="withdrawal_approved",
        help_text="withdrawals_pending -> cash_out, when staff approved a withdrawal that waited.",
    )
    reversal_journal = models.OneToOneField(
        "ledger.JournalTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="withdrawal_reversed",
        help_text="The money back in the wallet: rejected, cancelled, or returned after a failed payout.",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("review_withdrawal", "Can approve or reject withdrawals")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="withdrawal_amount_positive"),
            # Each state names the journal transactions that brought the money there; one that
            # waited reaches cash-out (approved, then perhaps returned) only through an approval.
            models.CheckConstraint(
                condition=models.Q(status="pending", approval_journal__isnull=True, reversal_journal__isnull=True)
                | models.Q(status="approved", reversal_journal__isnull=True)
                & (models.Q(review_reason="") | models.Q(approval_journal__isnull=False))
                | models.Q(status__in=["rejected", "cancelled"], approval_journal__isnull=True)
                & models.Q(reversal_journal__isnull=False)
                | models.Q(status="returned", reversal_journal__isnull=False)
                & (models.Q(review_reason="") | models.Q(approval_journal__isnull=False)),
                name="withdrawal_status_journals",
            ),
        ]
        indexes = [
            # The admin's review queue, oldest first.
            models.Index(fields=["requested_at"], condition=models.Q(status="pending"), name="withdrawal_pending_idx"),
        ]

    def __str__(self) -> str:
        return self.reference


class WithdrawalEvent(models.Model):
    """A change of a withdrawal's status, for the casino's payment system: written in the
    transaction that made the change, then POSTed to CASHIER_WEBHOOK_URL until it answers
    2xx (wallet/services/webhooks.py), and given by the feed (GET /api/v1/withdrawal-events)
    whether or not a webhook is set. `withdrawal_state` is the withdrawal as it stood then,
    frozen: a later change is another event, never an edit of this one."""

    class Delivery(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        DELIVERED = "delivered", "Delivered"
        # Written while CASHIER_WEBHOOK_URL was empty: for the feed only, until staff send it.
        UNSENT = "unsent", "Not sent (no webhook set)"

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="events")
    status = models.CharField(
        max_length=16, choices=Withdrawal.Status.choices, help_text="The status the withdrawal changed to."
    )
    withdrawal_state = models.JSONField(help_text="The withdrawal as GET .../withdrawals/{reference} gave it then.")
    created_at = models.DateTimeField()
    delivery = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="Sending: the worker's lease. Pending: a task for it is queued until then."
    )
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=2000, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    flagged_at = models.DateTimeField(
        null=True, blank=True, help_text="Still not delivered after OUTBOUND_FLAG_AFTER_ATTEMPTS attempts."
    )
    # The feed's order (wallet.selectors.withdrawal_events_after): the writing transaction's id,
    # set by the database.
    txid = models.BigIntegerField(db_default=WritingTransactionId(), editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["txid", "id"], name="withdrawal_event_feed"),
            # The sweep and the metrics read only the undelivered, a sliver of all events.
            models.Index(
                fields=["id"],
                condition=models.Q(delivery__in=["pending", "sending"]),
                name="withdrawal_event_undelivered",
            ),
        ]

    def __str__(self) -> str:
        return f"event {self.pk}: {self.withdrawal_id} {self.status}"


class StaffMovement(models.Model):
    """A deposit, withdrawal, adjustment or return of a failed payout entered by staff over
    their currency's `staff_approval_above`, or over what they may still move alone that day
    (`staff_daily_allowance`): it moves nothing until another member of staff approves it
    (four eyes), then moves once under its reference (wallet/services/staff_movements.py).
    `amount` is in minor units: positive for a deposit, withdrawal or return (the withdrawal's
    whole amount), signed for an adjustment."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        WITHDRAW = "withdraw", "Withdrawal"
        ADJUST = "adjust", "Adjustment"
        # The whole withdrawal named by `reference`, back to the wallet: money in, on staff's
        # word that the payout failed, so it waits as a deposit would.
        RETURN = "return", "Return of a failed payout"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second approval"
        APPROVING = "approving", "Being approved"
        APPROVED = "approved", "Approved (moved)"
        REJECTED = "rejected", "Rejected (nothing moved)"
        REFUSED = "refused", "Refused when approved (nothing moved)"

    class HeldBecause(models.TextChoices):
        AMOUNT = "amount", "Over the second-approval threshold"
        DAY_TOTAL = "day_total", "Over what the requester may move alone today"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="staff_movements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField()
    reference = models.CharField(
        max_length=128, blank=True, help_text="Staff's own reference (a bank transfer id, say), if they gave one."
    )
    reason = models.CharField(max_length=500)
    requested_by = models.CharField(max_length=160)
    requested_at = models.DateTimeField()
    held_because = models.CharField(
        max_length=16, choices=HeldBecause.choices, default=HeldBecause.AMOUNT, help_text="Why it waits for four eyes."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.CharField(max_length=160, blank=True, help_text="Who approved or rejected it.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_memo = models.CharField(max_length=500, blank=True, help_text="Why; for a refusal, the error.")
    # Not one-to-one: two requests under the same reference of staff's are one movement.
    journal = models.ForeignKey(
        "ledger.JournalTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff_movements",
        help_text="The movement, once approved.",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_staffmovement", "Can approve or reject staff money movements")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="adjust", amount__lt=0) | models.Q(amount__gt=0),
                name="staff_movement_amount_sane",
            ),
            # The point of it: nobody approves what they asked for (they may take it back).
            models.CheckConstraint(
                condition=~models.Q(status__in=["approving", "approved"], decided_by=models.F("requested_by")),
                name="staff_movement_four_eyes",
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_by="", journal__isnull=True)
                | models.Q(status="approving", journal__isnull=True) & ~models.Q(decided_by="")
                | models.Q(status="approved", journal__isnull=False) & ~models.Q(decided_by="")
                | models.Q(status__in=["rejected", "refused"], journal__isnull=True) & ~models.Q(decided_by=""),
                name="staff_movement_status_journal",
            ),
        ]
        indexes = [
            models.Index(
                fields=["requested_at"],
                condition=models.Q(status__in=["pending", "approving"]),
                name="staff_movement_open_idx",
            ),
            # Staff's search (wallet.selectors.staff_movement_search): by staff's reference,
            # which most movements have none of, and by who asked.
            models.Index(fields=["reference"], condition=~models.Q(reference=""), name="staff_movement_ref_idx"),
            models.Index(fields=["requested_by", "requested_at"], name="staff_movement_by_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.wallet_id} ({self.status})"


class StaffDayTotal(models.Model):
    """What one member of staff moved alone (without a second approval) on "Move money…" in a
    currency on a UTC day: the sum of the movements' amounts, whatever their sign. Held against
    the currency's `staff_daily_allowance`, so a sum split into movements under the threshold
    per movement is caught too. Taken before the movement and given back when it is refused
    (wallet/services/staff_movements.py): a crash between the two leaves it counted, never
    uncounted."""

    staff = models.CharField(max_length=160)
    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, related_name="+")
    day = models.DateField(help_text="UTC.")
    moved = models.BigIntegerField(default=0, help_text="Minor units, the sum of amounts of either sign.")

    class Meta:
        ordering = ["-day", "staff", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["staff", "currency", "day"], name="staff_day_total_once"),
            models.CheckConstraint(condition=models.Q(moved__gte=0), name="staff_day_total_moved_sane"),
        ]

    def __str__(self) -> str:
        return f"{self.staff} {self.currency_id} {self.day}: {self.moved}"


class MonitoringAlert(models.Model):
    """A movement that the currency's anti-money-laundering rules ask staff to look at: a large
    win (or the win that took its round's wins over the figure), a deposit that took the
    player's deposits in 24 hours over the currency's figure, or a withdrawal by a player who
    wagered little of what they deposited in the 30 days before it.
    Raised after the movement, by the sweep in wallet/services/monitoring.py that reads the
    journal; it refuses nothing. Staff clear it (nothing suspicious) or report it (a suspicious
    activity report filed with the authority, its reference kept); the decision is made once."""

    class Rule(models.TextChoices):
        LARGE_WIN = "large_win", "Large win"
        DEPOSITS_24H = "deposits_24h", "Deposits in 24 hours"
        LOW_PLAY_WITHDRAWAL = "low_play_withdrawal", "Withdrawal with little play"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        CLEARED = "cleared", "Cleared"
        REPORTED = "reported", "Reported"

    rule = models.CharField(max_length=24, choices=Rule.choices)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="monitoring_alerts")
    journal = models.ForeignKey(
        "ledger.JournalTransaction",
        on_delete=models.PROTECT,
        related_name="monitoring_alerts",
        help_text="The movement that raised it.",
    )
    amount = models.BigIntegerField(help_text="The movement's amount, minor units.")
    total = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Large win: what the round had won up to and including it. Deposits in 24 hours: what the player "
        "deposited in the 24 hours up to it. Withdrawal with little play: what the player deposited in the 30 days "
        "before it.",
    )
    wagered = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Withdrawal with little play: what the player wagered in the 30 days before it.",
    )
    threshold = models.BigIntegerField(
        help_text="The currency's figure when it was raised: the amount it went over, or for a withdrawal with "
        "little play the percentage of deposits wagered it fell under."
    )
    occurred_at = models.DateTimeField(help_text="When the movement was made.")
    raised_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.CharField(max_length=160, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_memo = models.CharField(max_length=500, blank=True)
    report_reference = models.CharField(
        max_length=128, blank=True, help_text="The authority's reference of the report filed, when reported."
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        permissions = [("review_monitoringalert", "Can clear or report monitoring alerts")]
        constraints = [
            # The sweep reads a stretch of the journal again (movements stamped before they
            # commit); a movement raises each rule's alert once however often it is read.
            models.UniqueConstraint(fields=["rule", "journal"], name="monitoring_alert_once"),
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_by="")
                | models.Q(status="cleared", report_reference="") & ~models.Q(decided_by="")
                | models.Q(status="reported") & ~models.Q(decided_by="") & ~models.Q(report_reference=""),
                name="monitoring_alert_decision",
            ),
        ]
        indexes = [
            models.Index(
                fields=["occurred_at"], condition=models.Q(status="pending"), name="monitoring_alert_open_idx"
            ),
            # Staff's search by a report's reference (wallet.selectors.monitoring_alert_search):
            # only reported alerts have one, a sliver of all alerts.
            models.Index(
                fields=["report_reference"],
                condition=~models.Q(report_reference=""),
                name="monitoring_alert_report_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()} {self.amount} {self.wallet_id} ({self.status})"


class MonitoringCursor(models.Model):
    """How far the monitoring sweep has read the journal: one row, written by the sweep whose
    turn it is (`exclusive_turn`), so two sweeps never read the same stretch at once; and how
    far the nightly re-read has read yesterday's journal again."""

    JOURNAL = "journal"
    NIGHTLY = "nightly"

    name = models.CharField(max_length=32, primary_key=True)
    scanned_until = models.DateTimeField()
    swept_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.scanned_until.isoformat()}"
