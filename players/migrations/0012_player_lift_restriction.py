from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("players", "0011_remove_player_has_loss_limits"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="player",
            options={
                "ordering": ["player_id"],
                "permissions": [("lift_restriction", "Can end a self-exclusion or time-out early")],
            },
        ),
    ]
