"""The audit trail of operator settings (`SettingChange`): who changed which threshold, switch
or access, from what to what, and when. `AUDITED_SETTINGS` names each audited model's fields;
the admin (`casino_platform.admin.SettingsAuditAdmin`) and the services that change settings
outside it record through `setting_changes_record`, inside the change's own transaction, so
that a change and its record commit or roll back together."""

import json
from typing import Any, TypeVar

from django.db import models, transaction

from casino_platform import clock

from .models import SettingChange

# Model label -> (the field that names an object, the columns whose changes are recorded).
AUDITED_SETTINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ledger.currency": (
        "code",
        (
            "name",
            "exponent",
            "is_enabled",
            "withdrawal_review_above",
            "kyc_deposits_above",
            "staff_approval_above",
            "staff_daily_allowance",
            "large_win_above",
            "deposits_24h_above",
            "low_play_withdrawal_percent",
        ),
    ),
    "provider.provider": (
        "code",
        ("name", "is_enabled", "ip_allowlist", "rate_limit_per_second", "restricted_countries", "launch_url_template"),
    ),
    # Where staff may rename the object, its name is audited too: a rename is on record.
    "provider.game": ("game_id", ("game_id", "name", "provider_id", "game_type", "is_enabled", "restricted_countries")),
    "provider.partnercasino": (
        "name",
        ("name", "base_url", "provider_code", "is_enabled", "connect_timeout_ms", "read_timeout_ms"),
    ),
    "game_sessions.platformswitch": ("name", ("is_on",)),
    "game_sessions.operatorapikey": ("name", ("name", "is_active", "scopes", "rate_limit_per_second")),
}


def setting_snapshot(obj: models.Model, *, deleting: bool = False) -> dict[str, str] | None:
    """The audited fields of `obj` as the database holds them now, locked until the change
    commits, so that a colleague's change in between is not recorded as overwritten; None
    when the database holds none.

    FOR NO KEY UPDATE: it conflicts with itself, so writers of the settings still go one at a
    time, but not with the key share a bet or a launch takes on the rows it refers to (a
    provider, a currency). FOR UPDATE held those up behind a settings change, and deadlocked
    one that held its session with a change that then locked the sessions. A deletion
    (`deleting`) takes FOR UPDATE, its DELETE's own lock, first: no row referring to `obj`
    is added between Django's check of the references and the DELETE."""
    if obj.pk is None:
        return None
    stored = type(obj)._default_manager.select_for_update(no_key=not deleting).filter(pk=obj.pk).first()
    return None if stored is None else _values(stored)


M = TypeVar("M", bound=models.Model)


@transaction.atomic
def setting_update_or_create(
    model: type[M], *, changed_by: str, defaults: dict[str, Any], reason: str = "", **lookup: Any
) -> tuple[M, bool]:
    """`update_or_create` for an audited setting (a seed, a command): what it changes is recorded."""
    existing = model._default_manager.select_for_update(no_key=True).filter(**lookup).first()  # as setting_snapshot
    before = _values(existing) if existing is not None else None
    if existing is None:
        obj = model._default_manager.create(**lookup, **defaults)
    else:
        obj = existing
        for field, value in defaults.items():
            setattr(obj, field, value)
        obj.save(update_fields=list(defaults))
    setting_changes_record(obj=obj, before=before, changed_by=changed_by, reason=reason)
    return obj, existing is None


def setting_changes_record(
    *, obj: models.Model, before: dict[str, str] | None, changed_by: str, reason: str = "", deleted: bool = False
) -> list[SettingChange]:
    """Record each audited field of `obj` that differs from `before` (a `setting_snapshot`
    taken before the change; None: `obj` was created; `deleted`: it is gone)."""
    after = {} if deleted else _values(obj)
    old = before or {}
    changed = [field for field in _fields(obj) if old.get(field, "") != after.get(field, "")]
    return [
        _record(obj, field, old.get(field, ""), after.get(field, ""), changed_by=changed_by, reason=reason)
        for field in changed
    ]


def setting_event_record(*, obj: models.Model, event: str, value: str, changed_by: str, reason: str = "") -> None:
    """Record a change that no column shows as a before and after: a signing secret rotated."""
    _record(obj, event, "", value, changed_by=changed_by, reason=reason)


def _record(obj: models.Model, field: str, old: str, new: str, *, changed_by: str, reason: str) -> SettingChange:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a setting's change is recorded in the transaction that makes it")
    key_field, _ = AUDITED_SETTINGS[obj._meta.label_lower]
    return SettingChange.objects.create(
        changed_at=clock.now(),
        changed_by=changed_by,
        setting=obj._meta.label_lower,
        object_key=str(getattr(obj, key_field))[:128],
        field=field,
        old_value=old,
        new_value=new,
        reason=reason,
    )


def _fields(obj: models.Model) -> tuple[str, ...]:
    return AUDITED_SETTINGS[obj._meta.label_lower][1]


def _values(obj: models.Model) -> dict[str, str]:
    return {field: _text(getattr(obj, field)) for field in _fields(obj)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
