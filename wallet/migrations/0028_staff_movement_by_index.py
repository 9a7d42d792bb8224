"""Who asked for a staff movement, with the time, for staff's search by it. Built concurrently."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("wallet", "0027_staff_movement_ref_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="staffmovement",
            index=models.Index(fields=["requested_by", "requested_at"], name="staff_movement_by_idx"),
        ),
    ]
