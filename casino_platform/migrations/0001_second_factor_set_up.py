import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def open_for_staff_without_an_app(apps, schema_editor):
    """Staff who have not set up their app yet get the whole set-up time from this release on,
    rather than finding it gone because they joined long ago."""
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    SecondFactorSetUp = apps.get_model("casino_platform", "SecondFactorSetUp")
    with_app = TOTPDevice.objects.filter(confirmed=True).values("user_id")
    now = timezone.now()
    SecondFactorSetUp.objects.bulk_create(
        SecondFactorSetUp(user_id=pk, opened_at=now)
        for pk in User.objects.filter(is_staff=True, is_active=True).exclude(pk__in=with_app).values_list("pk", flat=True)
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="SecondFactorSetUp",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="second_factor_set_up",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("opened_at", models.DateTimeField()),
            ],
            options={"verbose_name": "second factor set-up"},
        ),
        migrations.RunPython(open_for_staff_without_an_app, migrations.RunPython.noop),
    ]
