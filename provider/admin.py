from django.contrib import admin, messages

from .models import Game, Provider, ProviderSecret
from .services import provider_secret_rotate, provider_set_enabled


class SecretInline(admin.TabularInline):
    model = ProviderSecret
    fields = ("hint", "is_active", "created_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_enabled", "rate_limit_per_second", "created_at")
    list_filter = ("is_enabled",)
    search_fields = ("code", "name")
    inlines = [SecretInline]
    actions = ["rotate_secret", "disable", "enable"]

    @admin.action(description="Rotate the signing secret (shown once)")
    def rotate_secret(self, request, queryset):
        for provider in queryset:
            secret = provider_secret_rotate(provider=provider)
            messages.warning(request, f"New secret for {provider.code} (shown once, store it now): {secret}")

    @admin.action(description="Disable selected providers")
    def disable(self, request, queryset):
        for provider in queryset:
            provider_set_enabled(provider=provider, is_enabled=False)

    @admin.action(description="Enable selected providers")
    def enable(self, request, queryset):
        for provider in queryset:
            provider_set_enabled(provider=provider, is_enabled=True)


@admin.register(Game)
class GameAdmin(admin.ModelAdmin):
    list_display = ("game_id", "name", "provider", "game_type", "is_enabled")
    list_filter = ("provider", "game_type", "is_enabled")
    search_fields = ("game_id", "name")
