"""A small value type for money in integer minor units. Floats are refused outright."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

MAX_AMOUNT = 10**15


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units of `currency`
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True must never become one cent.
        if type(self.amount) is not int:
            raise TypeError(f"Money amount must be int minor units, got {type(self.amount).__name__}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"Not an ISO 4217 code: {self.currency!r}")

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money only combines with Money")
        if other.currency != self.currency:
            raise ValueError(f"Cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def format(self, exponent: int) -> str:
        """Render with the currency's exponent, e.g. 1050 EUR (exp 2) -> '10.50 EUR'."""
        return f"{self.decimal(exponent)} {self.currency}"

    def decimal(self, exponent: int) -> str:
        """The amount in major units, exactly, without the code: 1050 (exp 2) -> '10.50'."""
        sign = "-" if self.amount < 0 else ""
        units, minor = divmod(abs(self.amount), 10**exponent) if exponent else (abs(self.amount), 0)
        if exponent:
            return f"{sign}{units}.{minor:0{exponent}d}"
        return f"{sign}{units}"


def minor_units(amount: Decimal, exponent: int) -> int:
    """An amount in a currency's units as integer minor units: Decimal("10.50") at exponent 2
    -> 1050. ValueError for more decimal places than the currency has, zeros too: "1.000" in
    EUR is as likely a thousand written with a thousands dot as it is one euro."""
    if not amount.is_finite():
        raise ValueError("not a number")
    places = -int(amount.as_tuple().exponent)
    if places > exponent:
        raise ValueError(f"at most {exponent} decimal places")
    return int(amount.scaleb(exponent))
