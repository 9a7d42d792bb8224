"""Indexes for the back office's lists of players and of their audit log: the players'
country (its filter listed the countries with SELECT DISTINCT over every player), and the
audit log's author and field, each with the time (a search by who made a change, and the
filter by field, read the whole log). Built concurrently, so players keep registering and
their changes keep being audited while they build."""

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
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="playerauditlog",
            index=models.Index(fields=["changed_by", "changed_at"], name="player_audit_by_idx"),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="playerauditlog",
            index=models.Index(fields=["field", "changed_at"], name="player_audit_field_idx"),
        ),
    ]
