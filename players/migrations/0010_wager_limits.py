"""Wager limits, and the flag a debit reads them by: `has_bet_limits` (loss or wager limits)
takes over from `has_loss_limits`, which stays until the debit's functions read the new one
(wallet/0016), so no debit finds neither; players/0011 removes it."""

import django.db.models.deletion
from django.db import migrations, models


def flag_bet_limits(apps, schema_editor):
    # From the limits themselves, not the old flag: what a debit must read is what exists.
    Player = apps.get_model("players", "Player")
    LossLimit = apps.get_model("players", "LossLimit")
    Player.objects.filter(pk__in=LossLimit.objects.values("player_id")).update(has_bet_limits=True)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0009_currency_code_iso'),
        ('players', '0009_daily_play_time_limit'),
    ]

    operations = [
        migrations.AddField(
            model_name='player',
            name='has_bet_limits',
            field=models.BooleanField(default=False, editable=False, help_text="Kept by the service: a debit reads the player's loss and wager limits only when there are some."),
        ),
        migrations.RunPython(flag_bet_limits, migrations.RunPython.noop),
        migrations.CreateModel(
            name='WagerLimit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.CharField(choices=[('day', 'Day'), ('week', 'Week'), ('month', 'Month')], max_length=8)),
                ('amount', models.BigIntegerField(help_text='Minor units; the limit in force.')),
                ('pending_amount', models.BigIntegerField(blank=True, help_text='Minor units; the looser limit asked for, in force from pending_from.', null=True)),
                ('pending_from', models.DateTimeField(blank=True, help_text='When the pending change takes effect; with no pending amount, removal.', null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('currency', models.ForeignKey(db_column='currency', on_delete=django.db.models.deletion.PROTECT, to='ledger.currency')),
                ('player', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='wager_limits', to='players.player')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('pending_from__isnull', False)), fields=['pending_from'], name='wager_limit_pending')],
                'constraints': [models.UniqueConstraint(fields=('player', 'currency', 'period'), name='wager_limit_one_per_period'), models.CheckConstraint(condition=models.Q(('amount__gte', 0)), name='wager_limit_non_negative'), models.CheckConstraint(condition=models.Q(('pending_amount__isnull', True), models.Q(('pending_amount__gt', models.F('amount')), ('pending_from__isnull', False)), _connector='OR'), name='wager_limit_pending_is_looser')],
            },
        ),
    ]
