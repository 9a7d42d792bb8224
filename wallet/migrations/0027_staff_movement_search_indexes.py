"""Indexes for staff's search of the staff movements, by staff's reference (only those that
have one) and by who asked: the search read every movement. Built concurrently, so staff keep
moving money while they build."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("wallet", "0026_monitoring_alert_report_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="staffmovement",
            index=models.Index(
                condition=models.Q(("reference", ""), _negated=True),
                fields=["reference"],
                name="staff_movement_ref_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="staffmovement",
            index=models.Index(fields=["requested_by", "requested_at"], name="staff_movement_by_idx"),
        ),
    ]
