"""Create the sandbox of the contract's section 8. Safe to run again: nothing is duplicated
and money is deposited once (the deposits carry fixed idempotency references)."""

import secrets
from datetime import timedelta

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from ledger.services import currency_ensure_defaults
from ledger.settings_audit import setting_event_record, setting_update_or_create
from players.models import Player
from players.services import player_create, player_self_exclude, player_update
from provider.crypto import decrypt_secret, encrypt_secret
from provider.models import Game, PartnerCasino, Provider
from provider.services import provider_secret_ensure
from sessions.services import operator_api_key_ensure
from wallet.services import wallet_deposit

SEED = "seed_sandbox"
GAMES = [
    ("sandbox:dice", "Sandbox Dice", Game.Type.TABLE),
    ("sandbox:slot", "Sandbox Slot", Game.Type.SLOT),
    ("sandbox:holdem", "Sandbox Hold'em", Game.Type.POKER),
]
# player_id, display name, country, currency, balance in minor units, self-excluded, KYC status
PLAYERS = [
    ("p_demo_1", "Demo One", "MT", "EUR", 100_000, False, Player.KycStatus.VERIFIED),
    ("p_demo_2", "Demo Two", "US", "USD", 100_000, False, Player.KycStatus.VERIFIED),
    ("p_blocked_rg", "Excluded Player", "MT", "EUR", 10_000, True, Player.KycStatus.VERIFIED),
    ("p_low_balance", "Low Balance", "MT", "EUR", 50, False, Player.KycStatus.VERIFIED),
    # Plays, but its withdrawals are refused (KYC_REQUIRED) until its identity is verified.
    ("p_kyc_pending", "Unverified Player", "MT", "EUR", 10_000, False, Player.KycStatus.PENDING),
]


class Command(BaseCommand):
    help = "Create the sandbox provider, its secret, the operator token, games and demo players."

    def handle(self, *args, **options):
        with transaction.atomic():
            # What the seed creates or puts back is on the settings' trail like any change.
            currency_ensure_defaults(changed_by=SEED)
            provider = Provider.objects.filter(code="sandbox").first()
            created = provider is None
            if provider is None:
                provider, _ = setting_update_or_create(
                    Provider, changed_by=SEED, defaults={"name": "Sandbox Provider"}, code="sandbox"
                )
            self.stdout.write(f"provider sandbox: {'created' if created else 'exists'}")
            provider_secret_ensure(provider=provider, secret=settings.SANDBOX_PROVIDER_SECRET, changed_by=SEED)
            operator_api_key_ensure(name="sandbox", key=settings.SANDBOX_OPERATOR_TOKEN, changed_by=SEED)
            # Our provider side plays against our own wallet API unless told otherwise.
            partner_url = settings.SANDBOX_PARTNER_URL or settings.PUBLIC_BASE_URL
            defaults = {"base_url": partner_url, "provider_code": "sandbox"}
            secret_changed = not self.partner_holds_secret(settings.SANDBOX_PARTNER, settings.SANDBOX_PROVIDER_SECRET)
            if secret_changed:
                defaults["secret_encrypted"] = encrypt_secret(settings.SANDBOX_PROVIDER_SECRET)
            partner, _ = setting_update_or_create(
                PartnerCasino, changed_by=SEED, defaults=defaults, name=settings.SANDBOX_PARTNER
            )
            if secret_changed:
                setting_event_record(obj=partner, event="signing_secret", value="set", changed_by=SEED)
            self.stdout.write(f"partner casino {settings.SANDBOX_PARTNER}: {partner_url}")
            for game_id, name, game_type in GAMES:
                setting_update_or_create(
                    Game,
                    changed_by=SEED,
                    defaults={"provider": provider, "name": name, "game_type": game_type},
                    game_id=game_id,
                )
                self.stdout.write(f"game {game_id}")
        for player_id, name, country, currency, amount, excluded, kyc_status in PLAYERS:
            player = Player.objects.filter(player_id=player_id).first()
            if player is None:
                player = player_create(
                    player_id=player_id, display_name=name, country=country, changed_by="seed_sandbox", reason="sandbox"
                )
            if excluded and not player.self_excluded_until:
                player_self_exclude(
                    player=player,
                    until=timezone.now() + timedelta(days=3650),
                    changed_by="seed_sandbox",
                    reason="sandbox self-excluded player",
                )
            if player.kyc_status == Player.KycStatus.UNVERIFIED and kyc_status != Player.KycStatus.UNVERIFIED:
                # Only a player never checked: what staff set since is theirs.
                player = player_update(
                    player=player, changed_by="seed_sandbox", reason="sandbox KYC status", kyc_status=kyc_status
                )
            result = wallet_deposit(
                player_id=player_id,
                currency=currency,
                amount=amount,
                created_by="seed_sandbox",
                reason="sandbox opening balance",
                reference=f"seed-{player_id}-{currency}",
            )
            self.stdout.write(f"player {player_id}: {currency} wallet, balance {result.balance}")
        self.stdout.write(self.style.SUCCESS("Sandbox ready."))

    @staticmethod
    def partner_holds_secret(name: str, secret: str) -> bool:
        """Whether the partner is stored with this secret already (one encrypted under an
        earlier PROVIDER_SECRET_KEY is not: it cannot be read, and is replaced)."""
        stored = PartnerCasino.objects.filter(name=name).values_list("secret_encrypted", flat=True).first()
        try:
            return stored is not None and secrets.compare_digest(decrypt_secret(stored).encode(), secret.encode())
        except InvalidToken:
            return False
