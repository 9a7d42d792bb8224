"""The players who have a self-exclusion, for the admin's filter by where it stands (the
players waiting to ask to play again above all). Partial: most players have none. Built
concurrently."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("players", "0019_change_kyc_covers_the_country"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="player",
            index=models.Index(
                condition=models.Q(self_excluded_until__isnull=False),
                fields=["self_excluded_until"],
                name="player_self_excluded_idx",
            ),
        ),
    ]
