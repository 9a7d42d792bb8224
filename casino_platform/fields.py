"""Serializer fields that take JSON types as they are: the contract refuses "5", 5.0 and
true where an integer is due, and 1 or "true" where a boolean is due; and request bodies
that take no field they do not know."""

from typing import Any

from rest_framework import serializers
from rest_framework.utils import html


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
    """A JSON string taken as sent: DRF trims whitespace by default, so an operator's launch
    for " p_demo_1" played p_demo_1 while the wallet API took the same id as sent. An id, a
    code or a reference is what its characters are (" p_demo_1" is no player, " EUR" no
    currency); free text, a reason or a display name, is kept as the casino sent it."""

    default_error_messages = {"invalid": "A JSON string is required."}

    def __init__(self, **kwargs: Any) -> None:
        # Kept as sent, but a reason of spaces says no more than an empty one, as DRF's
        # trimming made it say. (A field that asks for trim_whitespace=False itself, the
        # wallet API's ids, has its own word for whitespace, AS_SENT's.)
        self.refuses_spaces_only = "trim_whitespace" not in kwargs
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def get_value(self, dictionary: Any) -> Any:
        # DRF takes an empty query parameter (`?player_id=`) as one left out: the lobby's
        # `/games?player_id=` listed the whole catalogue, games the player may not play too.
        # Given empty, it is judged as given: blank, refused unless the field allows blank.
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.refuses_spaces_only and not self.allow_blank and not data.strip():
            self.fail("blank")
        return super().to_internal_value(data)


class StrictInput(serializers.Serializer):
    """A request body of the operator API: a field it does not know is VALIDATION_ERROR."""

    # A misspelt field ("reson", a withdrawal's "reveiw") or one the path names ("period")
    # would otherwise change nothing, or not what was meant, and still answer 200.
    refuses_unknown_fields = True

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.refuses_unknown_fields:
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["not a field of this request"] for name in unknown})
        return attrs


class StrictQuery(serializers.Serializer):
    """A query string of the operator API: a parameter given empty (`?since=`, `?status=`) is
    VALIDATION_ERROR, not the parameter left out (DRF's reading for forms): a filter the caller
    meant to set and left empty would otherwise widen the answer without a word."""

    def to_internal_value(self, data: Any) -> Any:
        empty = sorted(name for name in self.fields.keys() if name in data and data.get(name) == "")
        if empty:
            raise serializers.ValidationError({name: ["may not be empty: leave it out instead"] for name in empty})
        return super().to_internal_value(data)


def currency_field(**kwargs: Any) -> serializers.Field:
    return StrictCharField(min_length=3, max_length=3, **{"help_text": "ISO 4217 code, e.g. EUR.", **kwargs})


def period_in_order(attrs: dict[str, Any]) -> dict[str, Any]:
    """A query's `since` and `until`, where both are given, in that order."""
    if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
        raise serializers.ValidationError({"until": ["must be after since"]})
    return attrs
