from django.db import models


class Provider(models.Model):
    """A game provider (studio, poker network, aggregator) allowed to call the wallet API."""

    code = models.SlugField(max_length=64, unique=True, help_text="Sent as X-Provider-Id.")
    name = models.CharField(max_length=120)
    is_enabled = models.BooleanField(default=True)
    ip_allowlist = models.JSONField(
        default=list, blank=True, help_text="IPs or CIDR networks; empty allows any address."
    )
    rate_limit_per_second = models.PositiveIntegerField(
        default=0, help_text="Wallet calls per second; 0 means unlimited."
    )
    launch_url_template = models.CharField(
        max_length=500,
        blank=True,
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
