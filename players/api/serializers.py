from rest_framework import serializers

from casino_platform.fields import StrictCharField, StrictInput, StrictIntegerField, StrictQuery, currency_field
from casino_platform.validators import country_code
from players.models import KYC_REFERENCE_LENGTH, PeriodLimit, Player, SelfExclusionState
from players.services import MAX_LIMIT, SESSION_TIME_LIMIT_MINUTES


class ReasonInput(StrictInput):
    reason = StrictCharField(
        max_length=200, required=False, default="through the operator API", help_text="Written to the audit log."
    )


class ReasonQuery(ReasonInput):
    """A removal's `reason`, from the query string, where a client's own parameters (a cache
    buster) are no mistake to refuse."""

    refuses_unknown_fields = False


class LimitSetInput(ReasonInput):
    amount = StrictIntegerField(min_value=0, max_value=MAX_LIMIT, help_text="Minor units of the currency.")


class SessionTimeLimitInput(ReasonInput):
    minutes = StrictIntegerField(
        min_value=SESSION_TIME_LIMIT_MINUTES[0],
        max_value=SESSION_TIME_LIMIT_MINUTES[1],
        help_text="The longest a game session may last, whatever the activity in it.",
    )


class DailyPlayTimeLimitInput(ReasonInput):
    minutes = StrictIntegerField(
        min_value=SESSION_TIME_LIMIT_MINUTES[0],
        max_value=SESSION_TIME_LIMIT_MINUTES[1],
        help_text="The most time in game sessions in a UTC day; sessions open side by side count once.",
    )


class RestrictionInput(ReasonInput):
    until = serializers.DateTimeField(
        help_text="RFC 3339; in the future, and not before an end already in force. A new self-exclusion's at "
        "least RG_SELF_EXCLUSION_MIN_DAYS ahead."
    )


class PendingLimitOutput(serializers.Serializer):
    amount = serializers.IntegerField(allow_null=True, help_text="The looser limit asked for; null: removal.")
    effective_from = serializers.DateTimeField(help_text="When the cooling-off ends and it takes effect.")


class PeriodLimitOutput(serializers.Serializer):
    currency = serializers.CharField()
    period = serializers.ChoiceField(choices=PeriodLimit.Period.values)
    amount = serializers.IntegerField(help_text="The limit in force, minor units.")
    remaining = serializers.IntegerField(help_text="What is left of it this period.")
    pending = PendingLimitOutput(allow_null=True, help_text="A looser limit or a removal waiting its turn.")


class LossLimitOutput(PeriodLimitOutput):
    net_loss = serializers.IntegerField(help_text="Debits less credits and rollbacks so far this period (UTC).")


class WagerLimitOutput(PeriodLimitOutput):
    wagered = serializers.IntegerField(
        help_text="Bets less those rolled back so far this period (UTC); wins are not deducted."
    )


class DepositLimitOutput(PeriodLimitOutput):
    deposited = serializers.IntegerField(help_text="Deposits so far this period (UTC), withdrawals not deducted.")


class PendingSessionTimeLimitOutput(serializers.Serializer):
    minutes = serializers.IntegerField(allow_null=True, help_text="The longer limit asked for; null: removal.")
    effective_from = serializers.DateTimeField(help_text="When the cooling-off ends and it takes effect.")


class SessionTimeLimitOutput(serializers.Serializer):
    minutes = serializers.IntegerField(help_text="The limit in force: a game session ends this long after it starts.")
    pending = PendingSessionTimeLimitOutput(allow_null=True, help_text="A longer limit or a removal waiting its turn.")


class DailyPlayTimeLimitOutput(serializers.Serializer):
    minutes = serializers.IntegerField(help_text="The limit in force: time in game sessions per UTC day.")
    played_seconds = serializers.IntegerField(help_text="Time in game sessions so far today (UTC).")
    remaining_seconds = serializers.IntegerField(
        help_text="What is left of it today, rounded down; under 60 launches are refused (RG_LIMIT) until midnight UTC."
    )
    pending = PendingSessionTimeLimitOutput(allow_null=True, help_text="A longer limit or a removal waiting its turn.")


class LimitMissingOutput(serializers.Serializer):
    limit = serializers.ChoiceField(choices=["loss_limit", "wager_limit", "deposit_limit"])
    currency = serializers.CharField(help_text="A currency the player holds a wallet in.")
    period = serializers.ChoiceField(choices=PeriodLimit.Period.values)
    limited_in = serializers.ListField(
        child=serializers.CharField(), help_text="The currencies the player has this limit of this period in."
    )
    refuses = serializers.ChoiceField(
        choices=["play", "deposits"],
        help_text="Until it is set: play, launches refused (RG_LIMIT, details.loss_limit_missing or "
        "wager_limit_missing) and open sessions closed; deposits, cashier deposits refused (RG_LIMIT, "
        "details.deposit_limit_missing).",
    )


class ResponsibleGamblingOutput(serializers.Serializer):
    player_id = serializers.CharField()
    status = serializers.CharField()
    self_excluded_until = serializers.DateTimeField(allow_null=True)
    self_exclusion = serializers.ChoiceField(
        choices=SelfExclusionState.choices,
        help_text="Where the self-exclusion stands: `in_force` until self_excluded_until; then, where the player "
        "must ask to play again (RG_SELF_EXCLUSION_RESUME_ON_REQUEST), `awaiting_request` until they do "
        "(POST .../self-exclusion/resume) and `cooling_off` until self_exclusion_resumes_at; `ended` once play "
        "has resumed. Play is refused (RG_LIMIT) in the first three.",
    )
    self_exclusion_resumes_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When play resumes after the self-exclusion: its end, or the player's request to play again plus "
        "RG_SELF_EXCLUSION_RESUME_DELAY_HOURS; null with no self-exclusion, or until the player asks.",
    )
    timed_out_until = serializers.DateTimeField(allow_null=True)
    loss_limits = LossLimitOutput(many=True)
    wager_limits = WagerLimitOutput(many=True)
    deposit_limits = DepositLimitOutput(many=True)
    session_time_limit = SessionTimeLimitOutput(allow_null=True)
    daily_play_time_limit = DailyPlayTimeLimitOutput(allow_null=True)
    limits_missing = LimitMissingOutput(
        many=True,
        help_text="A limit counts only its own currency's money: in each of the player's wallets' currencies, "
        "the loss, wager and deposit limits held in another currency and not in this one, and what is refused "
        "there until they are set. A currency the player has no wallet in yet is listed only when asked for "
        "(?currency=): a first deposit there needs a deposit limit of each period the player limits elsewhere, "
        "and the first launch after it the loss and wager limits, as the refusals' details say.",
    )


class ResponsibleGamblingQuery(StrictQuery):
    currency = currency_field(
        required=False,
        help_text="A currency the player has no wallet in yet, to list in limits_missing too: what to set before "
        "their first deposit and game in it (an enabled currency of the platform; VALIDATION_ERROR otherwise).",
    )


class PlayerInput(ReasonInput):
    display_name = StrictCharField(max_length=120, required=False, allow_blank=True)
    country = StrictCharField(
        required=False,
        allow_blank=True,
        validators=[country_code],
        help_text="ISO 3166-1 alpha-2, e.g. MT.",
    )
    kyc_status = serializers.ChoiceField(
        choices=Player.KycStatus.values,
        required=False,
        help_text="Where the casino's identity check stands; only a verified player's withdrawals are paid "
        "(KYC_REQUIRED_FOR_WITHDRAWALS).",
    )
    kyc_reference = StrictCharField(
        max_length=KYC_REFERENCE_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The KYC provider's id of the check.",
    )
    expected_kyc_status = serializers.ChoiceField(
        choices=Player.KycStatus.values,
        required=False,
        help_text="The KYC status your change of `kyc_status` was decided on. Given, an existing player's status "
        "is changed only from it (VALIDATION_ERROR otherwise, nothing changed): a retried `verified` sent "
        "before a revocation cannot verify the player again. Send it with every `kyc_status` you may retry.",
    )


class WalletOutput(serializers.Serializer):
    currency = serializers.CharField(source="currency_id")
    balance = serializers.IntegerField(help_text="Minor units.")


class PlayerOutput(serializers.Serializer):
    player_id = serializers.CharField()
    display_name = serializers.CharField()
    country = serializers.CharField()
    status = serializers.ChoiceField(
        choices=Player.Status.values,
        help_text="active; blocked (staff block and unblock in the admin); closed (POST .../close at the "
        "player's request; staff reopen it).",
    )
    kyc_status = serializers.ChoiceField(choices=Player.KycStatus.values)
    kyc_reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    wallets = WalletOutput(many=True)
