"""Form fields for money that staff type in the back office."""

import re
from decimal import Decimal
from typing import Any

from django import forms

from .models import Currency
from .money import MAX_AMOUNT, Money, minor_units

_AS_WRITTEN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_WHOLE = re.compile(r"-?[0-9]+")


class CurrencyAmountField(forms.DecimalField):
    """An amount as people write it in a currency ("250.00" for EUR 250), cleaned to a Decimal
    for `to_minor_units` once the form knows the currency. Django's IntegerField, which took
    minor units here, silently drops a trailing ".00": "250.00" moved EUR 2.50."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("localize", False)  # "1,5" is refused, not read by the server's locale
        super().__init__(**kwargs)

    # The stubs give DecimalField its base IntegerField's int; Django's own returns a Decimal.
    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if value in self.empty_values:
            return None
        text = str(value).strip()
        # Digits and one point, as money is written: "1e2" is no way to type EUR 100, and
        # "1E+999999" overflowed the conversion to minor units (a 500).
        if not _AS_WRITTEN.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(text)


def to_minor_units(amount: Decimal, currency: Currency, *, field: str = "amount") -> int:
    """`amount` in `currency`'s minor units, or a ValidationError that says how to write it."""
    example = Money(25_000, currency.code).decimal(currency.exponent)
    try:
        minor = minor_units(amount, currency.exponent)
    except ValueError:
        places = f"{currency.exponent} decimal places" if currency.exponent else "no decimal places"
        raise forms.ValidationError(
            f"{currency.code} has {places}, e.g. {example}, written without thousands separators.",
            code="places",
        ) from None
    if abs(minor) > MAX_AMOUNT:
        raise forms.ValidationError(f"At most {currency.format(MAX_AMOUNT)}.", code="max_value")
    return minor


class MinorUnitsField(forms.IntegerField):
    """A whole number of minor units, as typed: Django's IntegerField drops a trailing ".00",
    so a currency's threshold typed as "500.00" was stored as 500 minor units (5.00 EUR)."""

    default_error_messages = {
        "invalid": "A whole number of minor units, without a decimal point or separators: 50000 for 500.00 EUR."
    }

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if not _WHOLE.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(text)
