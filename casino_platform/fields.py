"""Serializer fields that take JSON types as they are: the contract refuses "5", 5.0 and
true where an integer is due, and 1 or "true" where a boolean is due."""

from typing import Any

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "A JSON integer is required (not a string, float or boolean)."}

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "A JSON boolean is required."}

    def to_internal_value(self, data: Any) -> bool:
        if type(data) is not bool:
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "A JSON string is required."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def currency_field(**kwargs: Any) -> serializers.Field:
    return StrictCharField(min_length=3, max_length=3, help_text="ISO 4217 code, e.g. EUR.", **kwargs)


def period_in_order(attrs: dict[str, Any]) -> dict[str, Any]:
    """A query's `since` and `until`, where both are given, in that order."""
    if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
        raise serializers.ValidationError({"until": ["must be after since"]})
    return attrs
