"""players.change_kyc also moves a recorded country (the admin, as the operator API's `kyc`
scope): its name says so. Django names a permission when it creates it only, so the existing
row is renamed here."""

from django.db import migrations

OLD, NEW = "Can change a player's KYC status", "Can change a player's KYC status and recorded country"


def _rename(apps, name: str) -> None:
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="players", codename="change_kyc").update(name=name)


def forwards(apps, schema_editor):
    _rename(apps, NEW)


def backwards(apps, schema_editor):
    _rename(apps, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("players", "0018_self_exclusion_resumes_at"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="player",
            options={
                "ordering": ["player_id"],
                "permissions": [
                    ("lift_restriction", "Can end a self-exclusion or time-out early"),
                    ("change_kyc", NEW),
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
