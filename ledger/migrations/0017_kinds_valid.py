"""The database holds the kinds of accounts and journal transactions to those the code knows
(reports, reconciliation and the admin group money by them). On PostgreSQL each check is
added NOT VALID in a short transaction of its own and then validated under a lock that lets
the journal be written, so a large journal is not blocked while its rows are read."""

from django.db import migrations, models, transaction

CHECKS = [
    (
        "account",
        "ledger_account",
        models.CheckConstraint(
            condition=models.Q(
                kind__in=[
                    "player_wallet",
                    "provider_clearing",
                    "adjustments",
                    "cash_in",
                    "cash_out",
                    "withdrawals_pending",
                ]
            ),
            name="account_kind_valid",
        ),
    ),
    (
        "journaltransaction",
        "ledger_journaltransaction",
        models.CheckConstraint(
            condition=models.Q(kind__in=["debit", "credit", "rollback", "deposit", "withdrawal", "adjustment"]),
            name="journal_kind_valid",
        ),
    ),
]


def forward(apps, schema_editor):
    for model_name, table, constraint in CHECKS:
        model = apps.get_model("ledger", model_name)
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_constraint(model, constraint)
            continue
        kinds = ", ".join(f"'{kind}'" for kind in constraint.condition.children[0][1])
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("SET LOCAL lock_timeout = '5s'")
            schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint.name} CHECK (kind IN ({kinds})) NOT VALID")
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {constraint.name}")


def reverse(apps, schema_editor):
    for model_name, _table, constraint in CHECKS:
        schema_editor.remove_constraint(apps.get_model("ledger", model_name), constraint)


class Migration(migrations.Migration):
    atomic = False  # each check added, then validated, in a transaction of its own

    dependencies = [
        ("ledger", "0016_currency_low_play_withdrawal"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, reverse)],
            state_operations=[
                migrations.AddConstraint(model_name=model_name, constraint=constraint)
                for model_name, _table, constraint in CHECKS
            ],
        ),
    ]
