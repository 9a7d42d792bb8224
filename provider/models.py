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
