from django.db import migrations


class Migration(migrations.Migration):
    """Options only: the admin's name for these rounds, apart from the casino side's Rounds."""

    dependencies = [
        ("provider", "0005_outbound_partner_status"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="gameround",
            options={
                "ordering": ["-id"],
                "verbose_name": "round played for a partner",
                "verbose_name_plural": "rounds played for partners",
            },
        ),
    ]
