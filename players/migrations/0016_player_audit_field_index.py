"""The audit log's field with the time, for the back office's filter by field (it listed the
fields with SELECT DISTINCT over the whole log). Built concurrently."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("players", "0015_player_audit_by_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="playerauditlog",
            index=models.Index(fields=["field", "changed_at"], name="player_audit_field_idx"),
        ),
    ]
