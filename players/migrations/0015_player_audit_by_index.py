"""The audit log's author with the time, for staff's search by who made a change (it read the
whole log). Built concurrently, so changes keep being audited while it builds."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("players", "0014_player_country_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="playerauditlog",
            index=models.Index(fields=["changed_by", "changed_at"], name="player_audit_by_idx"),
        ),
    ]
