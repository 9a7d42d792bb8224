"""Staff's reference of the staff movements that have one, for staff's search by it (it read
every movement). One index per migration, built concurrently, so staff keep moving money
while it builds."""

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
    ]
