"""The debit's functions read `has_bet_limits` now (wallet/0016): the old flag goes. A loss
limit set by the release before this one while the migrations ran kept only the old flag up
to date, so the new one is worked out again from the limits first."""

from django.db import migrations


def flag_bet_limits(apps, schema_editor):
    Player = apps.get_model("players", "Player")
    LossLimit = apps.get_model("players", "LossLimit")
    WagerLimit = apps.get_model("players", "WagerLimit")
    limited = LossLimit.objects.values("player_id").union(WagerLimit.objects.values("player_id"))
    Player.objects.filter(pk__in=limited).update(has_bet_limits=True)


class Migration(migrations.Migration):

    dependencies = [
        ('players', '0010_wager_limits'),
        ('wallet', '0016_debit_reads_wager_limits'),
    ]

    operations = [
        migrations.RunPython(flag_bet_limits, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='player',
            name='has_loss_limits',
        ),
    ]
