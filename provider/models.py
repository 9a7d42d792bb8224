import ipaddress
import string

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from casino_platform.validators import country_code


def validate_country_codes(value: object) -> None:
    """A list of ISO 3166-1 alpha-2 codes in capitals, each once: what a player's country is
    compared with."""
    message = "A list of ISO 3166-1 alpha-2 country codes in capitals, e.g. GB, US."
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError(message)
    try:
        for code in value:
            country_code(code)
    except ValidationError:
        raise ValidationError(message) from None
    if len(set(value)) != len(value):
        raise ValidationError("Each country once.")


def restricted_countries_field(of: str) -> models.JSONField:
    return models.JSONField(
        default=list,
        blank=True,
        validators=[validate_country_codes],
        help_text=f"Countries (ISO 3166-1 alpha-2) where {of} not offered: players of them see none of it in "
        "the catalogue and cannot launch it. Saved here, a restriction also closes their open sessions.",
    )


# The back office's cashier movements are journalled and made idempotent under this code, as
# a provider's are under theirs: a provider by that name would share their references.
BACKOFFICE_CODE = "backoffice"


def provider_code_not_reserved(code: str) -> None:
    if code.lower() == BACKOFFICE_CODE:
        raise ValidationError(f"{code!r} is reserved: the back office's movements are journalled under it.")


LAUNCH_URL_PLACEHOLDERS = ("token", "session_id", "game_id", "locale")


def validate_launch_url_template(template: str) -> None:
    """Only the four placeholders, each plain, in braces that pair: a template that fails to
    format made every launch of the provider's games a 500 (sessions.services.session_launch_url)."""
    try:
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is None:
                continue
            if name not in LAUNCH_URL_PLACEHOLDERS:
                known = ", ".join("{" + placeholder + "}" for placeholder in LAUNCH_URL_PLACEHOLDERS)
                raise ValidationError(f"{{{name}}} is not a placeholder here: use {known}.")
            if spec or conversion:
                raise ValidationError(f"Write {{{name}}} plain, without a conversion or a format.")
    except ValueError as exc:  # a brace without its pair
        raise ValidationError(f"Not a template: {exc}. Write a literal brace as {{{{ or }}}}.") from None


def validate_ip_allowlist(value: object) -> None:
    """A list of IP addresses or CIDR networks. An entry that is neither (a hostname, "/33",
    two joined by a comma) matches no caller: every call would be refused IP_NOT_ALLOWED."""
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise ValidationError('A list of IP addresses or networks, e.g. ["203.0.113.7", "198.51.100.0/24"].')
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValidationError(f"Not an IP address or network: {entry!r}.") from None


class Provider(models.Model):
    """A game provider (studio, poker network, aggregator) allowed to call the wallet API."""

    code = models.SlugField(
        max_length=64, unique=True, validators=[provider_code_not_reserved], help_text="Sent as X-Provider-Id."
    )
    name = models.CharField(max_length=120)
    is_enabled = models.BooleanField(default=True)
    ip_allowlist = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_ip_allowlist],
        help_text="IPs or CIDR networks; empty allows any address.",
    )
    rate_limit_per_second = models.PositiveIntegerField(
        default=0, help_text="Wallet calls per second; 0 means unlimited."
    )
    restricted_countries = restricted_countries_field("this provider's games are")
    launch_url_template = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_launch_url_template],
        help_text="Where a launched session sends the player; placeholders {token}, {session_id}, {game_id}, {locale}.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Game(models.Model):
    class Type(models.TextChoices):
        SLOT = "slot", "Slot"
        TABLE = "table", "Table"
        LIVE = "live", "Live"
        POKER = "poker", "Poker"

    game_id = models.CharField(max_length=128, unique=True, help_text="provider:game, e.g. sandbox:dice")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="games")
    name = models.CharField(max_length=120)
    game_type = models.CharField(max_length=16, choices=Type.choices)
    is_enabled = models.BooleanField(default=True)
    restricted_countries = restricted_countries_field("this game is")

    class Meta:
        ordering = ["game_id"]

    def __str__(self) -> str:
        return self.game_id


class ProviderSecret(models.Model):
    """An HMAC signing secret, encrypted at rest with PROVIDER_SECRET_KEY (Fernet), so a
    database dump alone does not reveal it. At most two are active at once (rotation)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="secrets")
    secret_encrypted = models.TextField()
    hint = models.CharField(max_length=12, help_text="First characters, to tell secrets apart.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.hint}… ({'active' if self.is_active else 'revoked'})"


# --- The platform as a game provider: partner casinos and what we send them -----------------


TIMEOUT_MAX_MS = 60_000


class PartnerCasino(models.Model):
    """A casino whose wallet speaks our contract, which our games call as a provider."""

    name = models.SlugField(max_length=64, unique=True)
    base_url = models.URLField(help_text="e.g. https://casino.example; /api/v1/wallet/... is appended.")
    provider_code = models.CharField(max_length=64, help_text="Our X-Provider-Id at the partner.")
    secret_encrypted = models.TextField(help_text="Our signing secret there, encrypted at rest.")
    # requests refuses a zero timeout; a minute is already far past what a bet can wait.
    connect_timeout_ms = models.PositiveIntegerField(
        default=1_000, validators=[MinValueValidator(1), MaxValueValidator(TIMEOUT_MAX_MS)]
    )
    read_timeout_ms = models.PositiveIntegerField(
        default=5_000, validators=[MinValueValidator(1), MaxValueValidator(TIMEOUT_MAX_MS)]
    )
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerPlayer(models.Model):
    """A partner's player as our games know them: their id there, mapped to our record."""

    partner = models.ForeignKey(PartnerCasino, on_delete=models.PROTECT, related_name="players")
    partner_player_id = models.CharField(max_length=64)
    display_name = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "partner_player_id"], name="partner_player_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.partner_player_id}"


class GameRound(models.Model):
    """A round our games played for a partner's player, with the RNG inputs that decided it,
    so anyone can recompute the outcome. Amounts are minor units of `currency`."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SETTLED = "settled", "Settled"
        REFUSED = "refused", "Refused by the partner"
        ROLLED_BACK = "rolled_back", "Rolled back"

    partner = models.ForeignKey(PartnerCasino, on_delete=models.PROTECT, related_name="rounds")
    round_id = models.CharField(max_length=128, unique=True)
    player = models.ForeignKey(PartnerPlayer, on_delete=models.PROTECT, related_name="rounds")
    game_id = models.CharField(max_length=128)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    stake = models.BigIntegerField(default=0)
    payout = models.BigIntegerField(default=0)
    server_seed = models.CharField(max_length=64, blank=True)
    client_seed = models.CharField(max_length=64, blank=True)
    nonce = models.BigIntegerField(default=0)
    outcome = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The beat sweep's look for instant rounds left unsettled, every few seconds: open
            # rounds are few (tables, tournaments, bets in flight) among all ever played.
            models.Index(fields=["created_at"], condition=models.Q(status="open"), name="round_open_idx"),
        ]
        # Beside the casino side's "Rounds" (game sessions and rounds), this is the other side.
        verbose_name = "round played for a partner"
        verbose_name_plural = "rounds played for partners"

    def __str__(self) -> str:
        return self.round_id


class OutboundTransaction(models.Model):
    """A debit, credit or rollback we send to a partner. Credits and rollbacks are an outbox:
    written in the transaction that settles the round, delivered and retried by Celery."""

    class Kind(models.TextChoices):
        DEBIT = "debit", "Debit"
        CREDIT = "credit", "Credit"
        ROLLBACK = "rollback", "Rollback"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending delivery"
        SENDING = "sending", "Being sent"
        SUCCEEDED = "succeeded", "Accepted by the partner"
        FAILED = "failed", "Refused by the partner (final)"
        UNKNOWN = "unknown", "Outcome unknown (rollback queued)"

    partner = models.ForeignKey(PartnerCasino, on_delete=models.PROTECT, related_name="transactions")
    player = models.ForeignKey(PartnerPlayer, on_delete=models.PROTECT, related_name="transactions")
    round = models.ForeignKey(GameRound, on_delete=models.PROTECT, related_name="transactions")
    transaction_id = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=32, blank=True)
    amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    reference_transaction_id = models.CharField(max_length=128, blank=True)
    round_closed = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending it until then.")
    last_error_code = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True, help_text="Still failing: staff should look.")
    partner_balance = models.BigIntegerField(null=True, blank=True)
    partner_transaction_id = models.CharField(max_length=128, blank=True)
    partner_status = models.CharField(
        max_length=32, blank=True, help_text="A rollback's answer: rolled_back, already_rolled_back or tombstone."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbound_due_idx"),
            models.Index(fields=["player", "status", "id"], name="outbound_player_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.transaction_id} ({self.status})"


class OutboundAttempt(models.Model):
    """Every attempt at a partner and its answer, for audit."""

    transaction = models.ForeignKey(OutboundTransaction, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(default=0)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.transaction_id}: {self.http_status or self.error_code}"
