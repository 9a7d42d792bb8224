"""Compile a DRF serializer's declared fields into a plain function that applies the same
rules, for the wallet callbacks' hot path. The serializer stays the one source of truth (and
what the OpenAPI schema is generated from); instantiating it per request costs more than the
rest of the request's Python."""

import re
from collections.abc import Callable
from typing import Any, cast

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from .errors import ValidationFailed
from .fields import StrictBooleanField, StrictCharField, StrictIntegerField

FieldCheck = Callable[[Any], Any]  # returns the clean value or raises ValueError(message)

SURROGATE = re.compile("[\ud800-\udfff]")


def _messages(field: serializers.Field) -> dict[str, str]:
    """The field's own error messages (the serializer's words, not copies of them)."""
    return {key: str(message) for key, message in field.error_messages.items()}


def _char(field: serializers.CharField) -> FieldCheck:
    # Compiled here: a validator's regex is a lazy object, whose every use goes through a proxy.
    lazy = [(cast(re.Pattern[str], v.regex), str(v.message)) for v in field.validators if isinstance(v, RegexValidator)]
    patterns = [(re.compile(regex.pattern, regex.flags), message) for regex, message in lazy]
    max_length, min_length = field.max_length, field.min_length
    # Read once, here: the wallet API's ids ask for no such check, and pay nothing for it.
    refuses_spaces_only = getattr(field, "refuses_spaces_only", False) and not field.allow_blank
    m = _messages(field)

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(m["invalid"])
        value = value.strip() if field.trim_whitespace else value
        if (not value and not field.allow_blank) or (refuses_spaces_only and not value.strip()):
            raise ValueError(m["blank"])
        if max_length is not None and len(value) > max_length:
            raise ValueError(m["max_length"].format(max_length=max_length))
        if min_length is not None and len(value) < min_length:
            raise ValueError(m["min_length"].format(min_length=min_length))
        if "\x00" in value:
            raise ValueError(str(ProhibitNullCharactersValidator.message))
        surrogate = None if value.isascii() else SURROGATE.search(value)
        if surrogate is not None:
            raise ValueError(
                str(ProhibitSurrogateCharactersValidator.message).format(code_point=ord(surrogate.group()))
            )
        for regex, message in patterns:
            if not regex.search(value):
                raise ValueError(message)
        return value

    return check


def _integer(field: serializers.IntegerField) -> FieldCheck:
    low, high = field.min_value, field.max_value
    m = _messages(field)

    def check(value: Any) -> Any:
        if type(value) is not int:
            raise ValueError(m["invalid"])
        if low is not None and value < low:
            raise ValueError(m["min_value"].format(min_value=low))
        if high is not None and value > high:
            raise ValueError(m["max_value"].format(max_value=high))
        return value

    return check


def _boolean(field: serializers.BooleanField) -> FieldCheck:
    invalid = _messages(field)["invalid"]

    def check(value: Any) -> Any:
        if type(value) is not bool:
            raise ValueError(invalid)
        return value

    return check


def _choice(field: serializers.ChoiceField) -> FieldCheck:
    choices = set(field.choices)
    invalid_choice = _messages(field)["invalid_choice"]

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(invalid_choice.format(input=value))
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
        m = _messages(field)
        plan.append(
            (name, field.required, field.default, field.allow_null, _check_for(field), m["required"], m["null"])
        )
    cross_field = serializer_class.validate if "validate" in serializer_class.__dict__ else None

    def validate(data: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, required, default, allow_null, check, required_message, null_message in plan:
            if name not in data:
                if required:
                    errors[name] = [required_message]
                elif default is not serializers.empty:
                    clean[name] = default() if callable(default) else default
                continue
            value = data[name]
            if value is None:
                if not allow_null:
                    errors[name] = [null_message]
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
