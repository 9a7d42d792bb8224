"""The double-entry journal. All amounts are integer minor units of the row's currency.

Entries and journal transactions are append-only: PostgreSQL triggers refuse UPDATE and
DELETE, and a deferred constraint trigger refuses, at commit, any transaction whose entries
do not sum to zero per currency (see migrations/0002_ledger_db_rules.py).
"""

import re

from django.core.validators import RegexValidator
from django.db import models

from .money import Money

# A currency code as ISO 4217 writes it; the same rule as Currency.code's validator.
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class Currency(models.Model):
    code = models.CharField(
        max_length=3,
        primary_key=True,
        validators=[RegexValidator(r"^[A-Z]{3}\Z", "Three capital letters, as ISO 4217 writes them.")],
        help_text="ISO 4217 code.",
    )
    name = models.CharField(max_length=64, blank=True)
    exponent = models.PositiveSmallIntegerField(help_text="Digits after the decimal point.")
    is_enabled = models.BooleanField(default=True)
    withdrawal_review_above = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Withdrawals through the operator API of more than this (minor units) wait for staff to "
        "approve them; 0: every one waits; empty: none waits for its amount.",
    )
    kyc_deposits_above = models.BigIntegerField(
        null=True,
        blank=True,
        verbose_name="KYC needed for deposits above",
        help_text="A player whose identity is not verified may deposit this much in all (minor units) through "
        "the operator API; a deposit that would take their deposits over it is refused (KYC_REQUIRED) until "
        "they are verified. 0: no deposit before verification; empty: deposits never wait for it.",
    )
    staff_approval_above = models.BigIntegerField(
        null=True,
        blank=True,
        verbose_name="second approval for staff movements above",
        help_text="A deposit, withdrawal or adjustment that staff enter on a wallet's 'Move money…' page of more "
        "than this (minor units, either sign) moves nothing until another member of staff approves it; "
        "0: every one waits; empty: none waits.",
    )
    staff_daily_allowance = models.BigIntegerField(
        null=True,
        blank=True,
        verbose_name="staff may move alone per day",
        help_text="What one member of staff may move in all on 'Move money…' without a second approval in a UTC "
        "day (minor units, the sum of amounts of either sign). A movement that would take them over it waits for "
        "another member of staff, like one over the threshold above; empty: no daily total.",
    )
    # Anti-money-laundering monitoring (wallet.services.monitoring): movements listed for staff
    # to look at, after they are made; nothing is refused by them.
    large_win_above = models.BigIntegerField(
        null=True,
        blank=True,
        verbose_name="flag wins above",
        help_text="A win (a provider's credit of any reason) of more than this (minor units) to a player's wallet, "
        "or the win that takes its round's wins over it, is listed under Wallets → Monitoring alerts for staff to "
        "clear or report; empty: none is.",
    )
    deposits_24h_above = models.BigIntegerField(
        null=True,
        blank=True,
        verbose_name="flag deposits in 24 hours above",
        help_text="A deposit that takes a player's deposits in the 24 hours up to it over this (minor units, gross, "
        "the cashier's and staff's alike) is listed under Wallets → Monitoring alerts; empty: none is.",
    )
    low_play_withdrawal_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        verbose_name="flag withdrawals after wagering below (% of deposits)",
        help_text="A withdrawal by a player who wagered less than this percentage of what they deposited in the "
        "30 days before it (money in and out with little play) is listed under Wallets → Monitoring alerts; "
        "0 to 100; empty: none is.",
    )

    class Meta:
        verbose_name_plural = "currencies"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(exponent__lte=4), name="currency_exponent_sane"),
            models.CheckConstraint(
                condition=models.Q(withdrawal_review_above__gte=0), name="currency_withdrawal_review_above_sane"
            ),
            models.CheckConstraint(
                condition=models.Q(kyc_deposits_above__gte=0), name="currency_kyc_deposits_above_sane"
            ),
            models.CheckConstraint(
                condition=models.Q(staff_approval_above__gte=0), name="currency_staff_approval_above_sane"
            ),
            models.CheckConstraint(
                condition=models.Q(staff_daily_allowance__gte=0), name="currency_staff_daily_allowance_sane"
            ),
            models.CheckConstraint(condition=models.Q(large_win_above__gte=0), name="currency_large_win_above_sane"),
            models.CheckConstraint(
                condition=models.Q(deposits_24h_above__gte=0), name="currency_deposits_24h_above_sane"
            ),
            models.CheckConstraint(
                condition=models.Q(low_play_withdrawal_percent__lte=100), name="currency_low_play_withdrawal_sane"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def format(self, amount: int) -> str:
        """Minor units as people read them in this currency: 1050 -> '10.50 EUR'."""
        return Money(amount, self.code).format(self.exponent)


class Account(models.Model):
    """A ledger account. Balances are derived from entries, never cached on this row,
    so a busy clearing account is never one hot row that every bet waits on."""

    class Kind(models.TextChoices):
        PLAYER_WALLET = "player_wallet", "Player wallet"
        PROVIDER_CLEARING = "provider_clearing", "Provider clearing"
        ADJUSTMENTS = "adjustments", "Adjustments"
        CASH_IN = "cash_in", "Cash in (deposits)"
        CASH_OUT = "cash_out", "Cash out (withdrawals)"
        WITHDRAWALS_PENDING = "withdrawals_pending", "Withdrawals awaiting review"

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, db_column="currency")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            # Target of the (account, currency) foreign key from entries.
            models.UniqueConstraint(fields=["id", "currency"], name="account_id_currency_unique"),
            # Reports and reconciliation group by kind: one they do not know is money unseen.
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=[
                        "player_wallet",
                        "provider_clearing",
                        "adjustments",
                        "cash_in",
                        "cash_out",
                        "withdrawals_pending",
                    ]
                ),
                name="account_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class JournalTransaction(models.Model):
    class Kind(models.TextChoices):
        DEBIT = "debit", "Debit"
        CREDIT = "credit", "Credit"
        ROLLBACK = "rollback", "Rollback"
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        ADJUSTMENT = "adjustment", "Adjustment"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    provider_code = models.CharField(max_length=64, blank=True)
    provider_transaction_id = models.CharField(max_length=128, blank=True)
    round_id = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="The transaction this one cancels; at most one reversal each.",
    )
    trace_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Who: "staff:" and a username of up to 150 characters, "provider:<code>", a command.
    created_by = models.CharField(max_length=160)
    memo = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("export_reports", "Can export ledger reports")]
        constraints = [
            # Money moves once per provider transaction id, whatever the Python above does.
            models.UniqueConstraint(
                fields=["provider_code", "provider_transaction_id"],
                condition=~models.Q(provider_transaction_id=""),
                name="journal_provider_transaction_once",
            ),
        ]
        indexes = [models.Index(fields=["provider_code", "round_id"], name="journal_round_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.provider_transaction_id}".strip()


class Entry(models.Model):
    # Indexed by entry_transaction_leg_unique.
    transaction = models.ForeignKey(
        JournalTransaction, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    # On PostgreSQL a journal transaction is written with legs 1, 2, ... n, checked at the
    # commit that writes it, and legs are unique per transaction: an entry added later takes
    # leg 1 or 2 again (refused by the key) or another leg, which is checked at its commit
    # for balance. So a debit's two legs need no check of their own beyond their
    # transaction's (migration 0007).
    leg = models.SmallIntegerField(help_text="The entry's place in its journal transaction: 1, 2, ...")
    # Indexed by entry_account_time_idx. On PostgreSQL the composite foreign key
    # (account_id, currency) -> account (id, currency) of migration 0002 checks both the
    # account and that the entry is in its currency; the single-column foreign keys were the
    # same checks again on every entry of every debit (migration 0004).
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount = models.BigIntegerField(help_text="Signed minor units; a transaction's entries sum to 0.")
    currency = models.ForeignKey(
        Currency, on_delete=models.PROTECT, db_column="currency", db_index=False, db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["account", "created_at"], name="entry_account_time_idx")]
        constraints = [models.UniqueConstraint(fields=["transaction", "leg"], name="entry_transaction_leg_unique")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d} {self.currency_id}"


class IdempotencyRecord(models.Model):
    """The first final answer to (scope, key). A row is inserted as a claim at the start of a
    write; a racing duplicate blocks on the unique index until the first one commits."""

    scope = models.CharField(max_length=64, help_text="Provider code, or 'backoffice'.")
    key = models.CharField(max_length=128)
    operation = models.CharField(max_length=32)
    fingerprint = models.CharField(max_length=64)
    # No CHECK (PositiveSmallIntegerField's): every wallet call writes this row, and PostgreSQL
    # reads a CHECK's expression afresh in each such statement (docs/performance.md).
    response_status = models.SmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class ReconcileRun(models.Model):
    """One finished proof of the books (`ledger.reconciliation.reconcile_run_record`), hourly
    from Celery beat or from `manage.py reconcile`: what /metrics says of the last one, and
    where the next one's comparison of the rounds starts. A run that dies writes nothing, so
    a stale `finished_at` is itself the alarm."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    problems = models.IntegerField(help_text="Everything it found wrong; 0: the books were right.")
    accounts_checked = models.IntegerField()
    rounds_checked = models.IntegerField()
    all_rounds = models.BooleanField(
        help_text="Every round was compared with its journal (reconcile --all-rounds), not only those played "
        "since the last run that found none drifted."
    )
    rounds_drifted = models.IntegerField(
        default=0, help_text="Rounds whose figures differ from their journal: the next run compares them again."
    )
    rounds_through = models.BigIntegerField(
        help_text="The newest round's id when it started: the next run compares every round after it."
    )

    class Meta:
        ordering = ["-finished_at"]
        indexes = [
            models.Index(fields=["finished_at"], name="reconcile_run_finished_idx"),
            # The last clean run, read by every scrape and every run, however long the books
            # have been wrong.
            models.Index(fields=["finished_at"], condition=models.Q(problems=0), name="reconcile_run_clean_idx"),
        ]

    def __str__(self) -> str:
        return f"reconcile {self.finished_at:%Y-%m-%d %H:%M:%S}: {self.problems} problems"


class SettingChange(models.Model):
    """One change of an operator setting that decides how money may move: a currency's
    thresholds, a provider's access, a game, a partner casino, an operator switch or API key.
    Written by `ledger.settings_audit` in the change's own transaction, and, like the journal,
    never updated or deleted: the database refuses it (migration 0014)."""

    changed_at = models.DateTimeField()
    changed_by = models.CharField(max_length=150)
    setting = models.CharField(
        max_length=64, help_text="What kind of setting: the model's label, e.g. ledger.currency."
    )
    object_key = models.CharField(max_length=128, help_text="Which one: its code, name or id.")
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True, help_text="Empty when it was created.")
    new_value = models.TextField(blank=True, help_text="Empty when it was deleted.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["setting", "object_key", "changed_at"], name="setting_change_object_idx")]

    def __str__(self) -> str:
        return f"{self.setting} {self.object_key}.{self.field}: {self.old_value!r} -> {self.new_value!r}"


class ExportRecord(models.Model):
    """Who exported which ledger report of what period: a report lists every player's balance
    (the trial balance) or every movement (the journal). Written by `export_record_start` as
    the export begins, so that a download cut off is on record too; its rows once it ends."""

    exported_at = models.DateTimeField()
    exported_by = models.CharField(
        max_length=160,
        help_text="staff:<username> from the admin's Reports page, command:<name> from manage.py ledger_report.",
    )
    report = models.CharField(max_length=32)
    since = models.DateTimeField()
    until = models.DateTimeField(help_text="Exclusive.")
    currency = models.CharField(max_length=3, blank=True, help_text="Empty: every currency.")
    provisional = models.BooleanField(
        help_text="Exported before the period had settled: movements still committing may be missing from it."
    )
    rows = models.BigIntegerField(
        null=True,
        help_text="Rows written, once the export ended; empty: it did not end (a download cut off, a run that "
        "failed) or is still running.",
    )

    class Meta:
        ordering = ["-id"]  # newest first along the key

    def __str__(self) -> str:
        return f"{self.report} {self.since:%Y-%m-%d}..{self.until:%Y-%m-%d} by {self.exported_by}"
