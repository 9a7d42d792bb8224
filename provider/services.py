"""Provider registry writes: create, rotate secrets, disable. Plaintext secrets are returned
once, to the caller that created them, and never logged."""

import secrets

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from casino_platform import clock
from casino_platform.errors import ValidationFailed, valid_or_refused
from ledger.settings_audit import setting_changes_record, setting_event_record, setting_snapshot

from .crypto import decrypt_secret, encrypt_secret
from .models import Provider, ProviderSecret, provider_code_not_reserved
from .selectors import provider_cache_clear

MAX_ACTIVE_SECRETS = 2


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _add_secret(*, provider: Provider, secret: str, changed_by: str, event: str) -> ProviderSecret:
    """Add an active secret; the oldest active one is revoked if that would make three. The
    trail records both by their hints: `event` ("issued", "rotated", "added") and "revoked"."""
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
def provider_secret_rotate(*, provider: Provider, changed_by: str = "system") -> str:
    """Generate a new secret. The previous one stays valid until the next rotation, so the
    provider can switch without downtime; older ones are revoked."""
    secret = _new_secret()
    _add_secret(provider=provider, secret=secret, changed_by=changed_by, event="rotated")
    return secret


@transaction.atomic
def provider_secret_revoke_all_but_newest(*, provider: Provider, changed_by: str = "system") -> int:
    active = list(ProviderSecret.objects.select_for_update().filter(provider=provider, is_active=True))
    newest = max(active, key=lambda s: (s.created_at, s.pk), default=None)
    now = clock.now()
    revoked = 0
    for s in active:
        if s is not newest:
            s.is_active, s.revoked_at = False, now
            s.save(update_fields=["is_active", "revoked_at"])
            revoked += 1
    if revoked and newest is not None:
        setting_event_record(
            obj=provider,
            event="signing_secret",
            value=f"older revoked ({revoked}), kept: {newest.hint}…",
            changed_by=changed_by,
        )
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
    """Make `secret` an active secret of `provider` (the sandbox's is configured). True if added."""
    for existing in ProviderSecret.objects.filter(provider=provider, is_active=True):
        if secrets.compare_digest(decrypt_secret(existing.secret_encrypted), secret):
            return False
    _add_secret(provider=provider, secret=secret, changed_by=changed_by, event="added")
    return True


def provider_active_secrets(*, provider: Provider) -> list[str]:
    return [
        decrypt_secret(s.secret_encrypted) for s in ProviderSecret.objects.filter(provider=provider, is_active=True)
    ]
