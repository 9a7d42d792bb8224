"""Room for "staff:" and a username of Django's full 150 characters in who wrote a journal
transaction (a longer name was a 500 on every money action). PostgreSQL widens the column in
place, without a rewrite. SQLite does not enforce a varchar's length, and Django would remake
the table there, which would drop its append-only triggers: only the model's state changes."""

from django.db import migrations, models

from casino_platform.db import pg_run_sql


def widen(apps, schema_editor):
    pg_run_sql(schema_editor, "ALTER TABLE ledger_journaltransaction ALTER COLUMN created_by TYPE varchar(160)")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0018_large_win_per_round"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="journaltransaction",
                    name="created_by",
                    field=models.CharField(max_length=160),
                ),
            ],
            database_operations=[migrations.RunPython(widen, migrations.RunPython.noop)],
        ),
    ]
