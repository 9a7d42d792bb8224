"""The database holds the kinds of ledger accounts to those the code knows: reports,
reconciliation and the admin group money by them. On PostgreSQL the check is added NOT VALID
in a short transaction of its own (dropped first, should an earlier attempt have stopped
half way) and then validated under a lock that lets entries be written against accounts
meanwhile. On SQLite the table is rebuilt with it, as Django adds any CHECK there.

The journal transaction's kind is not checked: every debit writes one, and a CHECK costs each
write (docs/decisions.md, "No CHECK on the journal's kind")."""

from django.db import migrations, models, transaction

TABLE = "ledger_account"
KINDS = ["player_wallet", "provider_clearing", "adjustments", "cash_in", "cash_out", "withdrawals_pending"]
CHECK = models.CheckConstraint(condition=models.Q(kind__in=KINDS), name="account_kind_valid")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        # The model is this migration's state, which already holds the check: the rebuilt
        # table has it. (ledger_account has no triggers for a rebuild to lose.)
        schema_editor.add_constraint(apps.get_model("ledger", "account"), CHECK)
        return
    kinds = ", ".join(f"'{kind}'" for kind in KINDS)
    with transaction.atomic(using=schema_editor.connection.alias):
        schema_editor.execute("SET LOCAL lock_timeout = '5s'")
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CHECK.name}")
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {CHECK.name} CHECK (kind IN ({kinds})) NOT VALID")
    schema_editor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {CHECK.name}")


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        model = apps.get_model("ledger", "account")
        # The state here still holds the check: rebuild the table without it.
        model._meta.constraints = [c for c in model._meta.constraints if c.name != CHECK.name]
        schema_editor.remove_constraint(model, CHECK)
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CHECK.name}")


class Migration(migrations.Migration):
    atomic = False  # the check added, then validated, each in a transaction of its own

    dependencies = [
        ("ledger", "0016_currency_low_play_withdrawal"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddConstraint(model_name="account", constraint=CHECK)]
        ),
        migrations.RunPython(forward, reverse),
    ]
