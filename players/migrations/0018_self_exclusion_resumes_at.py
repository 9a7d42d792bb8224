"""When play resumes after a self-exclusion (RG_SELF_EXCLUSION_RESUME_ON_REQUEST). A
self-exclusion that had ended when this ran had already let its player play again: it resumed
at its end. One still in force follows the setting as this runs, as one started now would."""

from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def resumes_at(apps, schema_editor):
    Player = apps.get_model("players", "Player")
    excluded = Player.objects.filter(self_excluded_until__isnull=False)
    excluded.filter(self_excluded_until__lte=timezone.now()).update(self_exclusion_resumes_at=F("self_excluded_until"))
    if not settings.RG_SELF_EXCLUSION_RESUME_ON_REQUEST:
        excluded.filter(self_exclusion_resumes_at__isnull=True).update(
            self_exclusion_resumes_at=F("self_excluded_until")
        )


class Migration(migrations.Migration):
    dependencies = [("players", "0017_staff_permissions")]

    operations = [
        migrations.AddField(
            model_name="player",
            name="self_exclusion_resumes_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text=(
                    "When play may resume after the self-exclusion: its end, or, where the player must ask to play "
                    "again (RG_SELF_EXCLUSION_RESUME_ON_REQUEST), their request plus the cooling-off; empty until "
                    "they ask."
                ),
                null=True,
            ),
        ),
        migrations.RunPython(resumes_at, migrations.RunPython.noop),
    ]
