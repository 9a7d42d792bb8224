import re

from django.db import migrations

APP_CODE = re.compile(r"\d{6}", re.ASCII)


def as_typed(apps, schema_editor):
    """Backup codes given by hand before this release with capitals or spaces, stored as the
    sign-in reads a typed one (casino_platform.second_factor.backup_code_as_typed); six digits
    stay as they are, as unusable as before: the sign-in takes them for the app's."""
    StaticToken = apps.get_model("otp_static", "StaticToken")
    for token in StaticToken.objects.all().iterator():
        code = "".join(token.token.split()).lower()
        if code != token.token and code and not APP_CODE.fullmatch(code):
            StaticToken.objects.filter(pk=token.pk).update(token=code)


class Migration(migrations.Migration):
    dependencies = [
        ("casino_platform", "0001_second_factor_set_up"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(as_typed, migrations.RunPython.noop)]
