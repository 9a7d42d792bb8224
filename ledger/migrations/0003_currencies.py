from django.db import migrations

# (code, name, ISO 4217 exponent)
CURRENCIES = [
    ("EUR", "Euro", 2),
    ("USD", "US Dollar", 2),
    ("GBP", "Pound Sterling", 2),
    ("CAD", "Canadian Dollar", 2),
    ("SEK", "Swedish Krona", 2),
    ("NOK", "Norwegian Krone", 2),
    ("BRL", "Brazilian Real", 2),
    ("JPY", "Yen", 0),
    ("KRW", "Won", 0),
    ("KWD", "Kuwaiti Dinar", 3),
    ("BHD", "Bahraini Dinar", 3),
]


def forward(apps, schema_editor):
    Currency = apps.get_model("ledger", "Currency")
    for code, name, exponent in CURRENCIES:
        Currency.objects.get_or_create(code=code, defaults={"name": name, "exponent": exponent})


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_ledger_db_rules")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
