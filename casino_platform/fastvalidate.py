"""Compile a DRF serializer's declared fields into a plain function that applies the same
rules, for the wallet callbacks' hot path. The serializer stays the one source of truth (and
what the OpenAPI schema is generated from); instantiating it per request costs more than the
rest of the request's Python."""

import re
from collections.abc import Callable
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from .errors import ValidationFailed
from .fields import StrictBooleanField, StrictCharField, StrictIntegerField

FieldCheck = Callable[[Any], Any]  # returns the clean value or raises ValueError(message)


def _char(field: serializers.CharField) -> FieldCheck:
    patterns = [(v.regex, str(v.message)) for v in field.validators if isinstance(v, RegexValidator)]
    max_length, min_length = field.max_length, field.min_length

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("A JSON string is required.")
        value = value.strip() if field.trim_whitespace else value
        if not value and not field.allow_blank:
            raise ValueError("This field may not be blank.")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"Ensure this field has no more than {max_length} characters.")
        if min_length is not None and len(value) < min_length:
            raise ValueError(f"Ensure this field has at least {min_length} characters.")
        if "\x00" in value:
            raise ValueError("Null characters are not allowed.")
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            raise ValueError("Surrogate characters are not allowed.")
        for regex, message in patterns:
            if not re.search(regex, value):
                raise ValueError(message)
        return value

    return check


def _integer(field: serializers.IntegerField) -> FieldCheck:
    low, high = field.min_value, field.max_value

    def check(value: Any) -> Any:
        if type(value) is not int:
            raise ValueError("A JSON integer is required (not a string, float or boolean).")
        if low is not None and value < low:
            raise ValueError(f"Ensure this value is greater than or equal to {low}.")
        if high is not None and value > high:
            raise ValueError(f"Ensure this value is less than or equal to {high}.")
        return value

    return check


def _boolean(field: serializers.BooleanField) -> FieldCheck:
    def check(value: Any) -> Any:
        if type(value) is not bool:
            raise ValueError("A JSON boolean is required.")
        return value

    return check


def _choice(field: serializers.ChoiceField) -> FieldCheck:
    choices = set(field.choices)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f'"{value}" is not a valid choice.')
        return value

    return check


def _check_for(field: serializers.Field) -> FieldCheck:
    if isinstance(field, serializers.ChoiceField):
        return _choice(field)
    if isinstance(field, StrictCharField):
        return _char(field)
    if isinstance(field, StrictIntegerField):
        return _integer(field)
    if isinstance(field, StrictBooleanField):
        return _boolean(field)
    raise TypeError(f"no fast check for {type(field).__name__}; add one or use the serializer")


def compile_serializer(serializer_class: type[serializers.Serializer]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    instance = serializer_class()
    plan = []
    for name, field in instance.fields.items():
        default = field.default if field.default is not serializers.empty else serializers.empty
        plan.append((name, field.required, default, field.allow_null, _check_for(field)))
    cross_field = serializer_class.validate if "validate" in serializer_class.__dict__ else None

    def validate(data: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, required, default, allow_null, check in plan:
            if name not in data:
                if required:
                    errors[name] = ["This field is required."]
                elif default is not serializers.empty:
                    clean[name] = default() if callable(default) else default
                continue
            value = data[name]
            if value is None:
                if not allow_null:
                    errors[name] = ["This field may not be null."]
                continue
            try:
                clean[name] = check(value)
            except ValueError as exc:
                errors[name] = [str(exc)]
        if not errors and cross_field is not None:
            try:
                clean = cross_field(instance, clean)
            except serializers.ValidationError as exc:
                detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
                errors = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
        if errors:
            raise ValidationFailed("Invalid fields: " + ", ".join(sorted(errors)), details=errors)
        return clean

    return validate
