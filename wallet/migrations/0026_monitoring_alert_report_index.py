"""A partial index of the reported monitoring alerts' report references: staff's search by a
reference no longer reads every alert. Built concurrently, so the sweep keeps raising alerts
while it builds."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("wallet", "0025_debit_session_judged_again_when_slid"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="monitoringalert",
            index=models.Index(
                condition=models.Q(("report_reference", ""), _negated=True),
                fields=["report_reference"],
                name="monitoring_alert_report_idx",
            ),
        ),
    ]
