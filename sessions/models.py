from django.core.exceptions import ValidationError
from django.db import models

from casino_platform import clock


def platform_now():
    # Looked up on each call, so that a test moving the platform's clock moves this too.
    return clock.now()


round_opened_at = platform_now  # the name migration 0004 knows it by


class Round(models.Model):
    """A game round, (provider, round_id). Totals are minor units of `currency`."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    # Indexed first in round_unique_per_provider; rounds are never looked up by currency.
    provider = models.ForeignKey("provider.Provider", on_delete=models.PROTECT, related_name="rounds", db_index=False)
    round_id = models.CharField(max_length=128)
    # On PostgreSQL (player, currency) is one key to the player's wallet in that currency,
    # which also proves the player and the currency exist (migration 0006).
    # Indexed first in round_player_history.
    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="rounds", db_index=False)
    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, db_column="currency", db_index=False)
    game_id = models.CharField(max_length=128)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    # Plain integers, not PositiveIntegerField: PostgreSQL reads a CHECK's stored expression
    # afresh in every statement that writes the row, and these three cost a debit more than
    # they guard (docs/performance.md); the database functions only ever add one to them.
    debit_count = models.IntegerField(default=0)
    credit_count = models.IntegerField(default=0)
    rollback_count = models.IntegerField(default=0)
    total_debited = models.BigIntegerField(default=0)
    total_credited = models.BigIntegerField(default=0)
    # The platform's clock, as the database functions' rounds take it (auto_now_add would not).
    opened_at = models.DateTimeField(default=platform_now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "round_id"], name="round_unique_per_provider"),
        ]
        indexes = [
            # A player's game history, newest first (GET /api/v1/players/{player_id}/rounds): a
            # page reads its own rows however many rounds the player has played.
            models.Index(fields=["player", "opened_at", "id"], name="round_player_history"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.round_id}"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class GameSession(models.Model):
    """A game launch for one player, game and currency. Only the token's SHA-256 is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    provider = models.ForeignKey("provider.Provider", on_delete=models.PROTECT, related_name="sessions")
    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="game_sessions")
    # Indexed first in session_game_live.
    game = models.ForeignKey("provider.Game", on_delete=models.PROTECT, related_name="sessions", db_index=False)
    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, db_column="currency")
    locale = models.CharField(max_length=16, blank=True)
    # The platform's clock, which the session's end (a session time limit) is counted from.
    created_at = models.DateTimeField(default=platform_now, editable=False)
    last_seen_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Slides forward on activity.")
    absolute_expires_at = models.DateTimeField(help_text="Never extended.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["player", "-created_at"], name="session_player_idx"),
            # A game's sessions that may still be live (sessions_end_where_not_offered): a
            # restriction reads those, not every session the game ever had. Debits slide
            # expires_at, not this, so their updates stay HOT.
            models.Index(fields=["game", "absolute_expires_at"], name="session_game_live"),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} {self.player_id} {self.game_id}"


class PlatformSwitch(models.Model):
    """Operator switches flipped without a deploy (admin or `manage.py platform_switch`)."""

    class Name(models.TextChoices):
        NO_NEW_SESSIONS = "no_new_sessions", "No new sessions"
        MAINTENANCE = "maintenance", "Maintenance"

    name = models.CharField(max_length=32, choices=Name.choices, unique=True)
    is_on = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={'on' if self.is_on else 'off'}"


def validate_operator_scopes(value: object) -> None:
    """One or more scopes, each once (a stored value is checked again where it is read)."""
    choices = OperatorApiKey.Scope.values
    if not isinstance(value, list) or not value or not all(isinstance(scope, str) for scope in value):
        raise ValidationError(f"One or more of: {', '.join(choices)}.")
    if not set(value) <= set(choices):
        raise ValidationError(f"One or more of: {', '.join(choices)}.")
    if len(set(value)) != len(value):
        raise ValidationError("Each scope once.")


def operator_scopes_held(value: object) -> list[str]:
    """The scopes a stored value grants: none unless it is a list of known scopes, so that a
    value written around the admin grants nothing it does not name."""
    if not isinstance(value, list):
        return []
    return [scope for scope in OperatorApiKey.Scope.values if scope in {s for s in value if isinstance(s, str)}]


class OperatorApiKey(models.Model):
    """A key for the operator's services (`Authorization: Token ...`); only its SHA-256 is stored.
    Its scopes say which part of the operator API it may call, so that a key kept in the
    casino's front end can neither pay money in or out nor mark a player's identity checked."""

    class Scope(models.TextChoices):
        LOBBY = "lobby", "Lobby: the game catalogue, launching and closing game sessions"
        PLAYERS = "players", "Players: registration, responsible gambling, account close, history"
        CASHIER = "cashier", "Cashier: deposits, withdrawals and their events"
        KYC = "kyc", "KYC: a player's identity-check status, which withdrawals wait for"

    name = models.CharField(max_length=64, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    is_active = models.BooleanField(default=True)
    scopes = models.JSONField(
        default=list,  # none: a key says what it may call
        validators=[validate_operator_scopes],
        help_text="What the key may call: lobby, players, cashier, kyc (one or more). "
        "Any other endpoint answers 403 SCOPE_NOT_GRANTED.",
    )
    rate_limit_per_second = models.PositiveIntegerField(
        default=0,
        help_text="Calls per second the key may make, counted across workers; 0 means unlimited. "
        "Over it a call answers 429 RATE_LIMITED with Retry-After.",
    )
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="When a call last authenticated with it (stamped at most once a minute)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [
            # A key's scopes decide whether it moves money (cashier) or verifies players (kyc):
            # a grant beyond changing a key's name, state or rate limit, given to no role.
            ("grant_scopes", "Can change what an operator API key may call (its scopes)"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
