"""Migrating the ledger back over its rows is refused, before anything is unapplied: it would
quietly drop the append-only triggers, the settings trail, the TRUNCATE guards or the export
records. An empty database still migrates both ways."""

import importlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.recorder import MigrationRecorder

from ledger.migration_guards import refuse_unapplying_over_rows
from ledger.models import ExportRecord, SettingChange
from ledger.services import export_record_start
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 12, 1, tzinfo=UTC)

GUARDS = ("ledger_entry_append_only", "ledger_entry_no_truncate", "ledger_settingchange_append_only")


def guards_in_place() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s)", [list(GUARDS)])
        return {name for (name,) in cursor.fetchall()}


def applied() -> set[tuple[str, str]]:
    return set(MigrationRecorder(connection).applied_migrations())


def with_rows() -> None:
    """A wallet's deposit (journal and entries), a setting change and an export record."""
    funded_wallet(amount=1_000)
    SettingChange.objects.create(
        changed_at=DAY, changed_by="staff:ann", setting="ledger.currency", object_key="EUR", field="x"
    )
    an_export_recorded()


def an_export_recorded() -> None:
    export_record_start(
        exported_by="staff:fiona",
        report="journal",
        since=DAY,
        until=DAY + timedelta(days=1),
        currency=None,
        provisional=False,
    )


@pytest.mark.parametrize(
    "target",
    [
        "0021_reconcile_runs_and_entry_time",  # the export records
        "0019_staff_names_of_any_length",  # the TRUNCATE guards
        "0013_currency_staff_daily_allowance",  # the settings trail
        "0001_initial",  # the append-only triggers
    ],
)
def test_migrating_back_over_the_ledger_s_rows_is_refused_before_anything_is_unapplied(target):
    with_rows()
    before = applied()
    with pytest.raises(IrreversibleError, match="hold rows: refused"):
        call_command("migrate", "ledger", target, stdout=io.StringIO(), verbosity=0)
    assert applied() == before
    assert guards_in_place() == set(GUARDS)


@pytest.mark.parametrize(
    ("migration", "reverse"),
    [
        ("0002_ledger_db_rules", "reverse"),
        ("0014_setting_changes", "not_append_only"),
        ("0020_history_cannot_be_truncated_or_reread", "reverse"),
        ("0022_export_record", "keep_the_records"),
    ],
)
def test_each_migration_s_own_reverse_refuses_too(migration, reverse):
    """The executor's path, which runs no pre_migrate: what the migration undoes first."""
    with_rows()
    undo = getattr(importlib.import_module(f"ledger.migrations.{migration}"), reverse)
    with (
        pytest.raises(IrreversibleError, match=f"ledger.{migration} would remove"),
        connection.schema_editor() as editor,
    ):
        undo(apps, editor)
    assert guards_in_place() == set(GUARDS)


def test_only_rows_are_refused_over_so_an_empty_database_migrates_back():
    assert not ExportRecord.objects.exists()
    refuse_unapplying_over_rows(connection, "0022_export_record")  # nothing to protect: allowed
    an_export_recorded()
    with pytest.raises(IrreversibleError, match=r"the export records .* while ledger_exportrecord hold rows"):
        refuse_unapplying_over_rows(connection, "0022_export_record")
