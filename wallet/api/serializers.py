"""Request and response shapes of the wallet callbacks (contract section 4)."""

import re

from django.core.validators import RegexValidator
from rest_framework import serializers

from casino_platform.fields import StrictBooleanField, StrictCharField, StrictIntegerField, currency_field
from ledger.money import MAX_AMOUNT
from wallet.services.common import TRANSACTION_ID_RE
from wallet.services.credits import CREDIT_REASONS
from wallet.services.debits import DEBIT_REASONS


def transaction_id_field(**kwargs) -> serializers.Field:
    return StrictCharField(
        max_length=128,
        # As sent: ' d-1' is not the key 'd-1' (trimming would make them one idempotency key).
        trim_whitespace=False,
        validators=[RegexValidator(TRANSACTION_ID_RE, "1-128 characters of A-Za-z0-9._:-")],
        **kwargs,
    )


# An id, token or currency as sent, refused with whitespace around it: trimmed, ' r-1' and
# 'r-1' would be one round or player to the wallet, and their payloads one to the idempotency key.
AS_SENT = RegexValidator(r"\A\S(?:.*\S)?\Z", "No whitespace before or after it.", flags=re.DOTALL)


def exact_text_field(max_length: int, **kwargs) -> serializers.Field:
    return StrictCharField(max_length=max_length, trim_whitespace=False, validators=[AS_SENT], **kwargs)


def exact_currency_field(**kwargs) -> serializers.Field:
    return currency_field(trim_whitespace=False, validators=[AS_SENT], **kwargs)


class AuthenticateInput(serializers.Serializer):
    session_token = exact_text_field(256)


class BalanceInput(serializers.Serializer):
    session_token = exact_text_field(256, required=False)
    player_id = exact_text_field(64, required=False)
    currency = exact_currency_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].required = False

    def validate(self, attrs):
        if "session_token" not in attrs and not ("player_id" in attrs and "currency" in attrs):
            raise serializers.ValidationError({"session_token": ["Give session_token, or player_id and currency."]})
        return attrs


class DebitInput(serializers.Serializer):
    transaction_id = transaction_id_field()
    session_token = exact_text_field(256)
    round_id = exact_text_field(128)
    game_id = exact_text_field(128)
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Minor units, > 0.")
    currency = exact_currency_field()
    reason = serializers.ChoiceField(choices=DEBIT_REASONS)
    round_closed = StrictBooleanField(required=False, default=False)


class CreditInput(serializers.Serializer):
    transaction_id = transaction_id_field()
    player_id = exact_text_field(64)
    round_id = exact_text_field(128)
    game_id = exact_text_field(128)
    amount = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT, help_text="Minor units, >= 0.")
    currency = exact_currency_field()
    reason = serializers.ChoiceField(choices=CREDIT_REASONS)
    round_closed = StrictBooleanField(required=False, default=True)
    session_token = exact_text_field(256, required=False)


class RollbackInput(serializers.Serializer):
    transaction_id = transaction_id_field()
    reference_transaction_id = transaction_id_field()
    player_id = exact_text_field(64)
    round_id = exact_text_field(128)


class BalanceOutput(serializers.Serializer):
    player_id = serializers.CharField()
    currency = serializers.CharField()
    balance = serializers.IntegerField(help_text="Minor units after the operation.")


class AuthenticateOutput(BalanceOutput):
    session_id = serializers.CharField()
    country = serializers.CharField()
    display_name = serializers.CharField()


class MoneyOutput(BalanceOutput):
    transaction_id = serializers.CharField()
    platform_transaction_id = serializers.CharField()


class RollbackOutput(BalanceOutput):
    transaction_id = serializers.CharField()
    platform_transaction_id = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=["rolled_back", "already_rolled_back", "tombstone"])


class ErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    retryable = serializers.BooleanField()
    trace_id = serializers.CharField()
    details = serializers.DictField(required=False, help_text="The bad fields, for VALIDATION_ERROR.")
