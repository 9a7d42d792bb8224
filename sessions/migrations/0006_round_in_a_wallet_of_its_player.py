"""A round's (player, currency) must be a wallet of that player, one composite foreign key
instead of the round's two keys to the player and to the currency (PostgreSQL only).

It guards more than the two did: besides a player and a currency that exist (the wallet's
own keys hold those), a round can no longer be in a currency its player has no wallet in,
which no debit or credit produces (both write the round under the wallet's lock). And it
costs one check at COMMIT instead of two on every new round: 2.1% of PostgreSQL's
instructions per debit (`make bench-pg`, docs/performance.md). The key share lock the
check takes is on the wallet row the movement already holds locked.

Django's state keeps both fields' keys (db_constraint), as for the entry's account in
ledger/migrations/0004: SQLite keeps its single-column keys. Existing rounds are validated
after the swap, without blocking writes to wallets or rounds; a round in a currency its
player has no wallet in stops the migration before it, named.
"""

from django.db import migrations, transaction

from casino_platform.db import pg_drop_redundant

TABLE = "game_sessions_round"
CONSTRAINT = "round_in_a_wallet_of_its_player"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.provider_id, r.round_id, r.player_id, r.currency FROM game_sessions_round r"
            " WHERE NOT EXISTS (SELECT 1 FROM wallet_wallet w WHERE w.player_id = r.player_id"
            " AND w.currency = r.currency) LIMIT 5"
        )
        strays = cursor.fetchall()
    if strays:
        raise RuntimeError(
            f"rounds in a currency their player has no wallet in (provider, round, player, currency): {strays}; "
            "create those wallets (zero balance) and migrate again"
        )
    # The swap in one short transaction (the new key NOT VALID: checked for new rows only),
    # then the existing rows validated under a lock that lets wallets and rounds be written.
    with transaction.atomic(using=schema_editor.connection.alias):
        pg_drop_redundant(schema_editor, TABLE, foreign_keys=("player_id", "currency"))
        schema_editor.execute("SET LOCAL lock_timeout = '5s'")
        schema_editor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (player_id, currency)"
            " REFERENCES wallet_wallet (player_id, currency) DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )
    schema_editor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {CONSTRAINT}")


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {CONSTRAINT}")
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT game_sessions_round_player_id_fk_players_player_id"
        " FOREIGN KEY (player_id) REFERENCES players_player (id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
    )
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT game_sessions_round_currency_fk_ledger_currency_code"
        " FOREIGN KEY (currency) REFERENCES ledger_currency (code) DEFERRABLE INITIALLY DEFERRED NOT VALID"
    )


class Migration(migrations.Migration):
    atomic = False  # the swap and the validation in transactions of their own

    dependencies = [
        ("game_sessions", "0005_round_counts_without_check"),
        ("wallet", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, reverse)]
