"""A partial index of the open rounds played for partners: the beat sweep's look for instant
rounds left unsettled, every few seconds. Built concurrently, so rounds keep being played and
settled while it builds."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("provider", "0009_outbound_timeouts_bounded_partner_id_longer"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="gameround",
            index=models.Index(condition=models.Q(status="open"), fields=["created_at"], name="round_open_idx"),
        ),
    ]
