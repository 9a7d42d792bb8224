"""The rollback tombstones' player, for staff's search by it (it read every tombstone). Built
concurrently, so rollbacks of unseen debits keep being recorded while it builds."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("wallet", "0028_staff_movement_by_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="rollbacktombstone",
            index=models.Index(fields=["player_id_text"], name="tombstone_player_idx"),
        ),
    ]
