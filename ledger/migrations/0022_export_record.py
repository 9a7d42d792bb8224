"""Who exported which ledger report of what period (ledger.ExportRecord). Unapplying this
migration drops the records: refused while there are any (ledger.migration_guards)."""

from django.db import migrations, models

from ledger.migration_guards import refuse_unapplying_over_rows


def keep_the_records(apps, schema_editor):
    refuse_unapplying_over_rows(schema_editor.connection, "0022_export_record")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0021_reconcile_runs_and_entry_time"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExportRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("exported_at", models.DateTimeField()),
                (
                    "exported_by",
                    models.CharField(
                        help_text="staff:<username> from the admin's Reports page, command:<name> from manage.py "
                        "ledger_report.",
                        max_length=160,
                    ),
                ),
                ("report", models.CharField(max_length=32)),
                ("since", models.DateTimeField()),
                ("until", models.DateTimeField(help_text="Exclusive.")),
                ("currency", models.CharField(blank=True, help_text="Empty: every currency.", max_length=3)),
                (
                    "provisional",
                    models.BooleanField(
                        help_text="Exported before the period had settled: movements still committing may be "
                        "missing from it."
                    ),
                ),
                (
                    "rows",
                    models.BigIntegerField(
                        help_text="Rows written, once the export ended; empty: it did not end (a download cut off, "
                        "a run that failed) or is still running.",
                        null=True,
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        # Undone first: the records are checked for before their table is dropped.
        migrations.RunPython(migrations.RunPython.noop, keep_the_records),
    ]
