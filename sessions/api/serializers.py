from rest_framework import serializers

from casino_platform.fields import StrictCharField


class SessionCreateInput(serializers.Serializer):
    player_id = StrictCharField(max_length=64)
    game_id = StrictCharField(max_length=128)
    currency = StrictCharField(min_length=3, max_length=3)
    locale = StrictCharField(max_length=16, required=False, default="")


class SessionCreateOutput(serializers.Serializer):
    session_id = serializers.CharField()
    session_token = serializers.CharField(help_text="Shown once; give it to the game client.")
    launch_url = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="Without activity the session ends then; play moves it on.")
    ends_at = serializers.DateTimeField(
        help_text="The session ends then whatever the activity: the platform's cap, or the player's session "
        "time limit (a stricter limit set later brings it forward). Show the player the time left."
    )


class SessionCloseOutput(serializers.Serializer):
    session_id = serializers.CharField()
    closed_at = serializers.DateTimeField()
