"""The withdrawal event feed's index, (txid, id): a reader's next page starts where its last
ended. Built concurrently, so withdrawals keep changing status while it builds."""

from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("wallet", "0019_withdrawal_event_feed"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="withdrawalevent",
            index=models.Index(fields=["txid", "id"], name="withdrawal_event_feed"),
        ),
    ]
