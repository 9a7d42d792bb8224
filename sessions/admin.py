from django.contrib import admin

from casino_platform.admin import ReadOnlyAdmin

from .models import GameSession, OperatorApiKey, PlatformSwitch, Round


@admin.register(Round)
class RoundAdmin(ReadOnlyAdmin):
    list_display = (
        "round_id",
        "provider",
        "player",
        "game_id",
        "currency",
        "status",
        "debit_count",
        "credit_count",
        "rollback_count",
        "total_debited",
        "total_credited",
        "opened_at",
        "closed_at",
    )
    list_filter = ("status", "provider", "currency")
    search_fields = ("=round_id", "=player__player_id")
    list_select_related = ("provider", "player", "currency")
    show_full_result_count = False


@admin.register(GameSession)
class GameSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "player", "game", "currency", "created_at", "expires_at", "absolute_expires_at", "closed_at")
    list_filter = ("provider", "currency")
    search_fields = ("=player__player_id", "=id")
    list_select_related = ("player", "game", "currency")
    exclude = ("token_hash",)
    readonly_fields = (
        "provider",
        "player",
        "game",
        "currency",
        "locale",
        "created_at",
        "last_seen_at",
        "expires_at",
        "absolute_expires_at",
    )

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PlatformSwitch)
class PlatformSwitchAdmin(admin.ModelAdmin):
    list_display = ("name", "is_on", "reason", "changed_by", "changed_at")
    list_editable = ("is_on",)
    readonly_fields = ("changed_by", "changed_at")

    def save_model(self, request, obj, form, change):
        obj.changed_by = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(OperatorApiKey)
class OperatorApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "is_active", "created_at")
    fields = ("name", "prefix", "is_active", "created_at")
    readonly_fields = ("prefix", "created_at")

    def has_add_permission(self, request, obj=None):
        return False  # created with `manage.py create_operator_key`, which shows the key once
