from django.contrib import admin, messages

from casino_platform.admin import ReadOnlyAdmin
from casino_platform.errors import DomainError

from .models import LossLimit, Player, PlayerAuditLog
from .services import AUDITED_FIELDS, player_block, player_create, player_unblock, player_update


class LossLimitInline(admin.TabularInline):
    model = LossLimit
    extra = 0
    fields = ("currency", "period", "amount", "updated_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # set through the service, so every change is audited


class AuditInline(admin.TabularInline):
    model = PlayerAuditLog
    extra = 0
    fields = ("changed_at", "field", "old_value", "new_value", "changed_by", "reason")
    readonly_fields = fields
    can_delete = False
    ordering = ("-changed_at",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ("player_id", "display_name", "country", "status", "self_excluded_until", "timed_out_until")
    list_filter = ("status", "country")
    search_fields = ("=player_id", "display_name")
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # The operator's id is what providers know the player by: fixed once created.
        return (*self.readonly_fields, "player_id") if obj is not None else self.readonly_fields

    inlines = [LossLimitInline, AuditInline]
    actions = ["block_players", "unblock_players"]

    def save_model(self, request, obj, form, change):
        if not change:
            created = player_create(
                player_id=obj.player_id,
                display_name=obj.display_name,
                country=obj.country,
                changed_by=request.user.get_username(),
                reason="created in back office",
            )
            obj.pk = created.pk
            extra = {
                f: form.cleaned_data[f]
                for f in form.changed_data
                if f in AUDITED_FIELDS and f not in ("display_name", "country")
            }
            if extra:
                player_update(
                    player=created, changed_by=request.user.get_username(), reason="created in back office", **extra
                )
            obj.refresh_from_db()
            return
        # Route edits through the service so that each changed field is audited.
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in AUDITED_FIELDS}
        try:
            player_update(player=obj, changed_by=request.user.get_username(), reason="back office edit", **changes)
        except DomainError as exc:
            messages.error(request, exc.message)

    @admin.action(description="Block selected players", permissions=["change"])
    def block_players(self, request, queryset):
        for player in queryset:
            player_block(player=player, changed_by=request.user.get_username(), reason="blocked in back office")
        messages.success(request, f"Blocked {queryset.count()} player(s).")

    @admin.action(description="Unblock selected players", permissions=["change"])
    def unblock_players(self, request, queryset):
        for player in queryset:
            player_unblock(player=player, changed_by=request.user.get_username(), reason="unblocked in back office")
        messages.success(request, f"Unblocked {queryset.count()} player(s).")


@admin.register(PlayerAuditLog)
class PlayerAuditLogAdmin(ReadOnlyAdmin):
    list_display = ("changed_at", "player", "field", "old_value", "new_value", "changed_by", "reason")
    list_filter = ("field",)
    search_fields = ("=player__player_id", "changed_by")
    list_select_related = ("player",)
