"""The debit's functions read `has_bet_limits` now (wallet/0016): the old flag goes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('players', '0010_wager_limits'),
        ('wallet', '0016_debit_reads_wager_limits'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='player',
            name='has_loss_limits',
        ),
    ]
