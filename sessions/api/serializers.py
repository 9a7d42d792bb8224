from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casino_platform.fields import StrictCharField, StrictQuery, currency_field, period_in_order
from casino_platform.validators import country_code
from provider.selectors import game_restricted_countries
from sessions.models import Round
from sessions.selectors import SESSION_STATES


class SessionCreateInput(serializers.Serializer):
    player_id = StrictCharField(max_length=64)
    game_id = StrictCharField(max_length=128)
    currency = StrictCharField(min_length=3, max_length=3)
    locale = StrictCharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        # Carried into the game's launch URL: a language tag, not a path ("../x") or a query.
        validators=[RegexValidator(r"\A[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*\Z", "A language tag, e.g. en or pt-BR.")],
        help_text="The player's language as a BCP 47 tag (e.g. en or pt-BR; en_US as well), passed to the game as "
        "given; empty or left out: the game's own.",
    )


class SessionCreateOutput(serializers.Serializer):
    session_id = serializers.CharField()
    session_token = serializers.CharField(help_text="Shown once; give it to the game client.")
    launch_url = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="Without activity the session ends then; play moves it on.")
    ends_at = serializers.DateTimeField(
        help_text="The session ends then whatever the activity: the platform's cap, or the player's session "
        "time limit (a stricter limit set later brings it forward). Show the player the time left."
    )


class SessionStateOutput(serializers.Serializer):
    session_id = serializers.CharField()
    player_id = serializers.CharField()
    game_id = serializers.CharField()
    currency = serializers.CharField()
    state = serializers.ChoiceField(
        choices=SESSION_STATES,
        help_text="open; closed (by the casino, one session or all of the player's; by staff; with the player's "
        "account closed or blocked, a self-exclusion or a time-out; or by a country restriction of its game); "
        "expired (no play for the idle timeout); ended (its end reached: the platform's cap or the player's session "
        "time or daily play time limit, which a stricter limit set during play brings forward).",
    )
    started_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField(help_text="The last call that moved its idle expiry on.")
    expires_at = serializers.DateTimeField(help_text="Without activity the session ends then; play moves it on.")
    ends_at = serializers.DateTimeField(
        help_text="The session ends then whatever the activity; a stricter limit set since the launch brings it "
        "forward, so read it again rather than keeping the launch's."
    )
    ended_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When it stopped taking bets: its close, its idle expiry (`expires_at`) or its end (`ends_at`; a "
        "limit set during play ends it no earlier than the moment it was set); null while open.",
    )
    seconds_left = serializers.IntegerField(help_text="Whole seconds until `ends_at` while open, else 0.")


class PlayerSessionQuery(StrictQuery):
    state = serializers.ChoiceField(
        choices=SESSION_STATES,
        required=False,
        help_text="Only sessions in this state now, as `state` gives it: `open` for the ones a logout closes.",
    )


class PlayerSessionPageOutput(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null at the first session.")
    previous = serializers.URLField(allow_null=True)
    results = SessionStateOutput(many=True)


class PlayerSessionsCloseOutput(serializers.Serializer):
    player_id = serializers.CharField()
    closed = serializers.IntegerField(help_text="How many open sessions this call closed (0 when none was open).")


class SessionCloseOutput(serializers.Serializer):
    session_id = serializers.CharField()
    closed_at = serializers.DateTimeField()


class GameCatalogueInput(serializers.Serializer):
    player_id = StrictCharField(
        max_length=64, required=False, help_text="The games offered to this player, by their recorded country."
    )
    country = StrictCharField(
        required=False,
        validators=[country_code],
        help_text="The games offered to players of this country (ISO 3166-1 alpha-2).",
    )

    def validate(self, attrs):
        if "player_id" in attrs and "country" in attrs:
            raise serializers.ValidationError({"country": ["Give player_id or country, not both."]})
        return attrs


class GameOutput(serializers.Serializer):
    game_id = serializers.CharField(help_text="What POST /api/v1/sessions launches.")
    name = serializers.CharField()
    game_type = serializers.CharField()
    provider = serializers.CharField(source="provider.code")
    restricted_countries = serializers.SerializerMethodField(
        help_text="Where it is not offered, by the game or its provider."
    )

    def get_restricted_countries(self, game) -> list[str]:
        return sorted(game_restricted_countries(game=game) or ())


class GameCatalogueOutput(serializers.Serializer):
    country = serializers.CharField(
        allow_null=True,
        help_text="The country the list is for: the one asked, or the player's (empty when not recorded: only "
        "games restricted nowhere); null for the whole catalogue.",
    )
    games = GameOutput(many=True)


class RoundQuery(StrictQuery):
    currency = currency_field(required=False)
    status = serializers.ChoiceField(choices=Round.Status.choices, required=False, help_text="Both if absent.")
    since = serializers.DateTimeField(required=False, help_text="Rounds opened from this time (inclusive).")
    until = serializers.DateTimeField(required=False, help_text="Rounds opened before this time (exclusive).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return period_in_order(attrs)


class RoundOutput(serializers.Serializer):
    provider = serializers.CharField(source="provider_code")
    round_id = serializers.CharField()
    game_id = serializers.CharField()
    game_name = serializers.CharField(allow_null=True, help_text="Null for a game no longer in the catalogue.")
    currency = serializers.CharField(source="currency_id")
    status = serializers.ChoiceField(choices=Round.Status.choices, help_text="closed once the provider closed it.")
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    wagered = serializers.IntegerField(
        source="total_debited", help_text="Minor units: the round's bets, less those rolled back."
    )
    won = serializers.IntegerField(
        source="total_credited", help_text="Minor units: what the round paid, any reason (a refund too)."
    )
    net = serializers.SerializerMethodField(help_text="Minor units: won - wagered, the player's result.")
    debits = serializers.IntegerField(source="debit_count", help_text="Bets taken, rolled back ones included.")
    credits = serializers.IntegerField(source="credit_count")
    rollbacks = serializers.IntegerField(source="rollback_count", help_text="Bets rolled back.")

    def get_net(self, obj: Round) -> int:
        return obj.total_credited - obj.total_debited


class RoundMovementOutput(serializers.Serializer):
    platform_transaction_id = serializers.CharField(source="journal.pk", help_text="The journal number.")
    created_at = serializers.DateTimeField(source="journal.created_at")
    kind = serializers.CharField(source="journal.kind", help_text="debit, credit or rollback.")
    transaction_id = serializers.CharField(source="journal.provider_transaction_id", help_text="The provider's.")
    reason = serializers.CharField(source="journal.reason", help_text="bet, win, refund, rollback, ...")
    amount = serializers.IntegerField(
        source="wallet_amount", help_text="Signed minor units: what it did to the player's wallet (a bet negative)."
    )


class RoundDetailOutput(RoundOutput):
    """A round as the history lists it, with `context["movements"]` (ledger.selectors.round_movements)."""

    movements = serializers.SerializerMethodField(
        help_text="The round's bets, wins and rollbacks, oldest first, as they moved the wallet."
    )

    @extend_schema_field(RoundMovementOutput(many=True))
    def get_movements(self, obj: Round) -> Any:
        return RoundMovementOutput(self.context["movements"], many=True).data


class RoundPageOutput(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null at the first round.")
    previous = serializers.URLField(allow_null=True)
    results = RoundOutput(many=True)
