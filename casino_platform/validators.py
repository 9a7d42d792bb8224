"""Validators shared by models and the operator API."""

from django.core.validators import RegexValidator

# A player's country and the countries games are not offered in are compared as written.
country_code = RegexValidator(r"^[A-Z]{2}\Z", "ISO 3166-1 alpha-2, in capitals")


BIGINT_MAX = 2**63 - 1


def bigint_or_none(text: str) -> int | None:
    """`text` as a number a bigint key can hold, or None: a search term or a filter's value
    compared with a key. Its length is checked first: int() refuses more than 4,300 digits
    (a ValueError, the admin's 500), and a bigger number fails in the database."""
    if text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= BIGINT_MAX:
        return int(text)
    return None
