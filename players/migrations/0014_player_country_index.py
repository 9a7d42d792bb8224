"""The players' country, for the back office's filter by it (it listed the countries with
SELECT DISTINCT over every player). One index per migration, built concurrently: a build
that fails leaves nothing for a second `migrate` to trip over."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("players", "0013_player_country_in_capitals"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="player",
            index=models.Index(fields=["country"], name="player_country_idx"),
        ),
    ]
