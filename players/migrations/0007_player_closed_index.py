"""A partial index of the closed players: /metrics and the admin's "holds money" filter find
the closed accounts still owed money without reading every player. Built concurrently, so
players keep registering and playing while it builds."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("players", "0006_player_closed"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="player",
            index=models.Index(condition=models.Q(status="closed"), fields=["id"], name="player_closed_idx"),
        ),
    ]
