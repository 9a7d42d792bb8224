"""Validators shared by models and the operator API."""

from django.core.validators import RegexValidator

# A player's country and the countries games are not offered in are compared as written.
country_code = RegexValidator(r"^[A-Z]{2}\Z", "ISO 3166-1 alpha-2, in capitals")
