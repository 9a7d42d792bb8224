"""Provider registry writes: create, rotate secrets, disable. Plaintext secrets are returned
once, to the caller that created them, and never logged."""

import logging
import secrets

from cryptography.fernet import InvalidToken
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from casino_platform import clock
from casino_platform.errors import ValidationFailed, valid_or_refused
from ledger.settings_audit import setting_changes_record, setting_event_record, setting_snapshot

from .crypto import decrypt_secret, encrypt_secret
from .models import Provider, ProviderSecret, provider_code_not_reserved
from .selectors import provider_cache_clear

logger = logging.getLogger(__name__)

MAX_ACTIVE_SECRETS = 2


class RotationUnfinished(ValidationFailed):
    """A rotation while two secrets are active would revoke the older, which the provider may
    still sign with: its bets would be refused and its wins pile up on its side."""

    def __init__(self, provider: Provider, hints: list[str]):
        listed = ", ".join(f"{hint}…" for hint in hints)
        super().__init__(
            f"{provider.code} has {len(hints)} active secrets already ({listed}): a rotation would revoke "
            f"{hints[0]}…, which the provider may still sign with. Finish the rotation once it has switched "
            "to the newest, or force this one.",
            details={"active_secrets": [f"{hint}…" for hint in hints]},
        )
        self.hints = hints


def _provider_locked(provider: Provider) -> Provider:
    """Its secrets change one writer at a time: two rotations side by side each saw only the
    secrets committed before them, and left three active. FOR NO KEY UPDATE still puts
    rotations in turn without holding up the provider's bets, whose new rounds take a key
    share of its row."""
    return Provider.objects.select_for_update(no_key=True).get(pk=provider.pk)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _add_secret(*, provider: Provider, secret: str, changed_by: str, event: str) -> ProviderSecret:
    """Add an active secret; the oldest active one is revoked if that would make three. The
    trail records both by their hints: `event` ("issued", "rotated", "added") and "revoked".
    The caller holds the provider's lock (`_provider_locked`), or created it in this transaction."""
    active = list(
        ProviderSecret.objects.select_for_update()
        .filter(provider=provider, is_active=True)
        .order_by("created_at", "id")
    )
    for old in active[: max(0, len(active) - (MAX_ACTIVE_SECRETS - 1))]:
        old.is_active = False
        old.revoked_at = clock.now()
        old.save(update_fields=["is_active", "revoked_at"])
        setting_event_record(obj=provider, event="signing_secret", value=f"revoked: {old.hint}…", changed_by=changed_by)
    created = ProviderSecret.objects.create(provider=provider, secret_encrypted=encrypt_secret(secret), hint=secret[:6])
    setting_event_record(obj=provider, event="signing_secret", value=f"{event}: {created.hint}…", changed_by=changed_by)
    provider_cache_clear()  # now for this process, and again once the change is visible to all
    transaction.on_commit(provider_cache_clear)
    return created


@transaction.atomic
def provider_create(
    *,
    code: str,
    name: str,
    ip_allowlist: list[str] | None = None,
    rate_limit_per_second: int = 0,
    changed_by: str = "system",
) -> tuple[Provider, str]:
    """Register a provider and generate its first secret. Returns (provider, plaintext secret)."""
    try:
        provider_code_not_reserved(code)
    except DjangoValidationError as e:
        raise ValidationFailed(e.messages[0], details={"code": e.messages}) from None
    if Provider.objects.filter(code=code).exists():
        raise ValidationFailed(f"Provider {code!r} already exists.", details={"code": ["exists"]})
    provider = Provider(
        code=code, name=name, ip_allowlist=ip_allowlist or [], rate_limit_per_second=rate_limit_per_second
    )
    valid_or_refused(provider)
    provider.save()
    setting_changes_record(obj=provider, before=None, changed_by=changed_by)
    secret = _new_secret()
    _add_secret(provider=provider, secret=secret, changed_by=changed_by, event="issued")
    return provider, secret


@transaction.atomic
def provider_secret_rotate(*, provider: Provider, changed_by: str = "system", force: bool = False) -> str:
    """Generate a new secret. The previous one stays valid until the rotation is finished
    (`provider_secret_revoke_all_but_newest`), so the provider can switch without downtime.
    With two active already, refused (RotationUnfinished) unless `force`d, which revokes the
    older at once. A provider without an active secret is issued its first."""
    _provider_locked(provider)
    hints = list(
        ProviderSecret.objects.filter(provider=provider, is_active=True)
        .order_by("created_at", "id")
        .values_list("hint", flat=True)
    )
    if len(hints) >= MAX_ACTIVE_SECRETS and not force:
        raise RotationUnfinished(provider, hints)
    secret = _new_secret()
    _add_secret(provider=provider, secret=secret, changed_by=changed_by, event="rotated" if hints else "issued")
    return secret


@transaction.atomic
def provider_secret_revoke_all_but_newest(*, provider: Provider, changed_by: str = "system") -> int:
    """Finish a rotation: every active secret but the newest is revoked, each on the trail."""
    _provider_locked(provider)
    active = list(ProviderSecret.objects.select_for_update().filter(provider=provider, is_active=True))
    newest = max(active, key=lambda s: (s.created_at, s.pk), default=None)
    now = clock.now()
    revoked = 0
    for s in active:
        if s is not newest:
            s.is_active, s.revoked_at = False, now
            s.save(update_fields=["is_active", "revoked_at"])
            setting_event_record(
                obj=provider, event="signing_secret", value=f"revoked: {s.hint}…", changed_by=changed_by
            )
            revoked += 1
    provider_cache_clear()  # now for this process, and again once the change is visible to all
    transaction.on_commit(provider_cache_clear)
    return revoked


@transaction.atomic
def provider_set_enabled(*, provider: Provider, is_enabled: bool, changed_by: str = "system") -> Provider:
    before = setting_snapshot(provider)
    provider.is_enabled = is_enabled
    provider.save(update_fields=["is_enabled"])
    setting_changes_record(obj=provider, before=before, changed_by=changed_by)
    provider_cache_clear()  # now for this process, and again once the change is visible to all
    transaction.on_commit(provider_cache_clear)
    return provider


@transaction.atomic
def provider_secret_ensure(*, provider: Provider, secret: str, changed_by: str = "system") -> bool:
    """Make `secret` an active secret of `provider` (the sandbox's is configured). True if added.
    One stored under an earlier PROVIDER_SECRET_KEY cannot be read, so cannot be it."""
    _provider_locked(provider)
    for existing in ProviderSecret.objects.filter(provider=provider, is_active=True):
        try:
            stored = decrypt_secret(existing.secret_encrypted)
        except InvalidToken:
            logger.error(
                "provider secret %s of %s cannot be decrypted with PROVIDER_SECRET_KEY", existing.pk, provider.code
            )
            continue
        if secrets.compare_digest(stored.encode(), secret.encode()):
            return False
    _add_secret(provider=provider, secret=secret, changed_by=changed_by, event="added")
    return True


def provider_active_secrets(*, provider: Provider) -> list[str]:
    return [
        decrypt_secret(s.secret_encrypted) for s in ProviderSecret.objects.filter(provider=provider, is_active=True)
    ]
