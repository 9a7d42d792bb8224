from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.core.exceptions import ValidationError

from casino_platform.admin import (
    ActionOnlyAdmin,
    EstimatedCountPaginator,
    FlaggedFilter,
    ReadOnlyAdmin,
    SettingsAuditAdmin,
    choices_filter,
    shown_on_the_page,
)
from sessions.services import restricted_countries_change

from .games.selectors import game_round_search, outbound_search, partner_game_ids
from .models import (
    Game,
    GameRound,
    OutboundAttempt,
    OutboundTransaction,
    PartnerCasino,
    Provider,
    ProviderSecret,
    validate_country_codes,
)
from .outbound.services import outbound_retry_now
from .services import (
    RotationUnfinished,
    provider_secret_revoke_all_but_newest,
    provider_secret_rotate,
    provider_set_enabled,
)


class OfferedWhereAdmin(SettingsAuditAdmin):
    """A provider's or a game's page: a save that changes where its games are offered (its
    countries) closes the open sessions of players they are not offered to, in the same
    transaction.

    The countries are saved as the change the page made to the list it showed (sent back in
    the form's hidden initial value), applied to the list as stored now, as
    `manage.py restrict_countries` does: a country added or removed by a colleague or a
    script after the page was opened is kept, where saving the whole list shown would undo
    it. A post without the hidden value (a script) sets the list it sends."""

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        wanted = list(obj.restricted_countries)
        # The list is left as stored by the page's own save; the service changes it below.
        # FOR NO KEY UPDATE, as the service locks it: a bet opening a round refers to the row.
        stored = type(obj)._default_manager.select_for_update(no_key=True).get(pk=obj.pk).restricted_countries
        obj.restricted_countries = stored
        super().save_model(request, obj, form, change)
        shown = self.countries_shown(form)
        if shown is None or not self.well_formed(stored) or not self.well_formed(shown):
            change_made: dict = {"replace": wanted}
        else:
            change_made = {
                "add": [code for code in wanted if code not in shown],
                "remove": [code for code in shown if code not in wanted],
            }
        _, after, ended = restricted_countries_change(
            target=obj, changed_by=request.user.get_username(), reason=self.reason(obj, form), **change_made
        )
        if set(after) != set(wanted):
            messages.info(
                request,
                "Restricted countries were changed after this page was opened; both changes are kept: "
                f"{', '.join(after) or 'none'}.",
            )
        if ended:
            messages.warning(request, f"Closed {ended} open game session(s) of players it is not offered to.")
        return None

    @staticmethod
    def well_formed(codes: object) -> bool:
        """A list of country codes the service can add to and take from: one written around
        the admin ("GBR", a number) is replaced by the page's list, which repairs it."""
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            return False
        try:
            validate_country_codes([code.strip().upper() for code in codes])
        except ValidationError:
            return False
        return True

    @staticmethod
    def countries_shown(form) -> list[str] | None:
        """The list the page showed, from the form's hidden initial value; None if the post
        has none or it is not a list."""
        field = form.fields["restricted_countries"]
        raw = shown_on_the_page(form, "restricted_countries")
        if raw is None:
            return None
        try:
            return [code.strip().upper() for code in field.to_python(raw)]
        except forms.ValidationError:
            return None


def _restricted_countries(model) -> SimpleArrayField:
    """The country list typed as "GB,US" rather than as JSON; the list shown goes back with
    the form (show_hidden_initial), so that a save applies only what was changed on it."""
    return SimpleArrayField(
        forms.CharField(max_length=2),
        required=False,
        show_hidden_initial=True,
        help_text=model._meta.get_field("restricted_countries").help_text + " Comma-separated, e.g. GB,US.",
    )


class ProviderForm(forms.ModelForm):
    restricted_countries = _restricted_countries(Provider)

    class Meta:
        model = Provider
        fields = (
            "code",
            "name",
            "is_enabled",
            "ip_allowlist",
            "rate_limit_per_second",
            "restricted_countries",
            "launch_url_template",
        )


class GameForm(forms.ModelForm):
    restricted_countries = _restricted_countries(Game)

    class Meta:
        model = Game
        fields = ("game_id", "provider", "name", "game_type", "is_enabled", "restricted_countries")


class SecretInline(admin.TabularInline):
    model = ProviderSecret
    fields = ("hint", "is_active", "created_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Provider)
class ProviderAdmin(OfferedWhereAdmin):
    form = ProviderForm
    list_display = ("code", "name", "is_enabled", "restricted_countries", "rate_limit_per_second", "created_at")
    list_filter = ("is_enabled",)
    search_fields = ("code", "name")
    inlines = [SecretInline]
    actions = ["rotate_secret", "finish_rotation", "disable", "enable"]

    def get_readonly_fields(self, request, obj=None):
        # The journal and the idempotency records name a provider by its code: fixed once created.
        return ("code",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # Issued with the provider, as `create_provider` does: without one every call it
            # makes answers INVALID_SIGNATURE, and nothing on the page said why.
            self.show_new_secret(
                request, obj, provider_secret_rotate(provider=obj, changed_by=request.user.get_username())
            )

    @staticmethod
    def show_new_secret(request, provider: Provider, secret: str) -> None:
        messages.warning(request, f"New secret for {provider.code} (shown once, store it now): {secret}")

    # Actions change what they act on: without permissions=["change"] Django offers them to
    # anyone who may view the list.
    @admin.action(description="Rotate the signing secret (shown once)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for provider in queryset:
            try:
                secret = provider_secret_rotate(provider=provider, changed_by=request.user.get_username())
            except RotationUnfinished as exc:
                # Forcing it cuts the provider off; that stays with `rotate_provider_secret --force`.
                messages.error(request, exc.message)
                continue
            self.show_new_secret(request, provider, secret)

    @admin.action(
        description="Finish the rotation: revoke all but the newest secret (the provider has switched)",
        permissions=["change"],
    )
    def finish_rotation(self, request, queryset):
        for provider in queryset:
            revoked = provider_secret_revoke_all_but_newest(provider=provider, changed_by=request.user.get_username())
            messages.info(request, f"Revoked {revoked} older secret(s) of {provider.code}.")

    @admin.action(description="Disable selected providers", permissions=["change"])
    def disable(self, request, queryset):
        for provider in queryset:
            provider_set_enabled(provider=provider, is_enabled=False, changed_by=request.user.get_username())

    @admin.action(description="Enable selected providers", permissions=["change"])
    def enable(self, request, queryset):
        for provider in queryset:
            provider_set_enabled(provider=provider, is_enabled=True, changed_by=request.user.get_username())


@admin.register(Game)
class GameAdmin(OfferedWhereAdmin):
    form = GameForm
    list_display = ("game_id", "name", "provider", "game_type", "is_enabled", "restricted_countries")
    list_filter = ("provider", "game_type", "is_enabled")
    search_fields = ("game_id", "name")

    def get_readonly_fields(self, request, obj=None):
        # The provider names its games ("provider:game") and sends the id in every bet, and a
        # session holds its game and provider apart: a game moved went on taking its old
        # provider's bets on the sessions launched under it, and one renamed refused every
        # bet of its open sessions. Another provider's game, or a new id, is a new game.
        return ("game_id", "provider") if obj is not None else ()


@admin.register(PartnerCasino)
class PartnerCasinoAdmin(SettingsAuditAdmin):
    list_display = ("name", "base_url", "provider_code", "is_enabled", "connect_timeout_ms", "read_timeout_ms")
    list_filter = ("is_enabled",)
    exclude = ("secret_encrypted",)  # set with `manage.py create_partner`; never shown


class AttemptInline(admin.TabularInline):
    model = OutboundAttempt
    fields = ("attempted_at", "duration_ms", "http_status", "error_code", "error", "response_body")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboundTransaction)
class OutboundTransactionAdmin(ActionOnlyAdmin):
    list_display = (
        "transaction_id",
        "kind",
        "reason",
        "amount",
        "currency",
        "player",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error_code",
        "flagged_at",
        "created_at",
    )
    list_filter = (FlaggedFilter, "status", "kind", "partner")
    search_fields = ("=transaction_id", "=reference_transaction_id", "=player__partner_player_id", "=round__round_id")
    list_select_related = ("player",)
    readonly_fields = [f.name for f in OutboundTransaction._meta.fields]
    inlines = [AttemptInline]
    actions = ["retry_now"]
    show_full_result_count = False
    # Every bet and win of our games writes one: no count(*) of them all on each page.
    paginator = EstimatedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        return outbound_search(queryset, search_term), False

    @admin.action(description="Retry delivery now (a refused one goes back in line)", permissions=["change"])
    def retry_now(self, request, queryset):
        ids = outbound_retry_now(ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, f"Queued {len(ids)} delivery(ies) for an immediate attempt.")


@admin.register(GameRound)
class GameRoundAdmin(ReadOnlyAdmin):
    """Rounds are settled, voided and rolled back by the games and the sweep: a save here
    would write back a round as read over its settlement."""

    list_display = ("round_id", "game_id", "player", "currency", "stake", "payout", "status", "created_at")
    # The game ids from the partners' few rows: Django's own filter of a plain field read them
    # with SELECT DISTINCT over every round ever played, on each load of the list.
    list_filter = ("status", choices_filter("game_id", "game", partner_game_ids), "partner")
    search_fields = ("=round_id", "=player__partner_player_id")
    list_select_related = ("player",)
    show_full_result_count = False
    # Every bet of our games writes one: no count(*) of them all on each page.
    paginator = EstimatedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        # By their indexes: Django's search (round_id = term OR the joined player's id = term)
        # read every round.
        return game_round_search(queryset, search_term), False
