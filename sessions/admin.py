from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from casino_platform import clock
from casino_platform.admin import ActionOnlyAdmin, EstimatedCountPaginator, ReadOnlyAdmin, SettingsAuditAdmin
from ledger.selectors import round_movements

from .models import GameSession, OperatorApiKey, PlatformSwitch, Round, operator_scopes_held
from .selectors import (
    SESSION_STATES,
    round_search,
    rounds_open_since,
    session_search,
    session_state,
    sessions_in_state,
)
from .services import sessions_close


class RoundOpenForFilter(admin.SimpleListFilter):
    """Rounds a provider left open for longer than a round lasts: its settlement never came
    (support's "my bet vanished"; the provider is asked to settle or roll it back)."""

    title = "open for over"
    parameter_name = "open_for_over"
    HOURS = {"1": "1 hour", "24": "24 hours", "168": "7 days"}

    def lookups(self, request, model_admin):
        return list(self.HOURS.items())

    def queryset(self, request, queryset):
        hours = self.value()
        if hours in self.HOURS:
            return rounds_open_since(queryset, opened_before=clock.now() - timedelta(hours=int(hours)))
        return queryset


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
        "debited",
        "credited",
        "opened_at",
        "closed_at",
    )
    list_filter = ("status", RoundOpenForFilter, "provider", "currency")
    search_fields = ("=round_id", "=player__player_id")
    list_select_related = ("provider", "player", "currency")
    show_full_result_count = False
    # Rounds are written on every bet: no count(*) of them all on each page.
    paginator = EstimatedCountPaginator
    readonly_fields = ("money_movements",)

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (round_id = term OR the joined player's id =
        # term) read every round.
        return round_search(queryset, search_term), False

    def get_ordering(self, request):
        # No index leads with opened_at: newest first by it read and sorted every round (of a
        # status, provider or currency too) for each page. By the key instead, the order they
        # were written in; one player's rounds (the player page's link) along round_player_history.
        if "player__id__exact" in request.GET:
            return ("-opened_at", "-id")
        return ("-id",)

    @admin.display(description="Total debited", ordering="total_debited")
    def debited(self, obj: Round) -> str:
        return obj.currency.format(obj.total_debited)

    @admin.display(description="Total credited", ordering="total_credited")
    def credited(self, obj: Round) -> str:
        return obj.currency.format(obj.total_credited)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # Journal numbers are links only for staff who may open the journal (a 403 else).
            obj.journal_linked = request.user.has_perm("ledger.view_journaltransaction")
        return obj

    @admin.display(description="Money movements")
    def money_movements(self, obj: Round) -> str:
        """The round's journal transactions, each with what it moved on the player's wallet,
        linked to the journal for staff who may read it: how support explains a round's money."""
        movements = round_movements(provider_code=obj.provider.code, round_id=obj.round_id)
        if not movements:
            return "None booked."
        linked = getattr(obj, "journal_linked", False)
        rows = []
        for movement in movements:
            journal = movement.journal
            number = (
                format_html(
                    '<a href="{}">#{}</a>',
                    reverse("admin:ledger_journaltransaction_change", args=[journal.pk]),
                    journal.pk,
                )
                if linked
                else format_html("#{}", journal.pk)
            )
            rows.append(
                (
                    number,
                    journal.kind,
                    journal.provider_transaction_id,
                    obj.currency.format(movement.wallet_amount),
                    journal.created_at.isoformat(timespec="milliseconds"),
                )
            )
        return format_html(
            "<table><thead><tr><th>journal</th><th>kind</th><th>provider transaction</th>"
            "<th>player's wallet</th><th>at</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )


class GameSessionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state.capitalize()) for state in SESSION_STATES]

    def queryset(self, request, queryset):
        state = self.value()
        if state in SESSION_STATES:
            return sessions_in_state(queryset, state=state, now=clock.now())
        return queryset


@admin.register(GameSession)
class GameSessionAdmin(ActionOnlyAdmin):
    """Sessions are slid by every bet and closed by the services: the page saves nothing (a
    save wrote back the session as read, its expiry included, and let staff reopen a closed
    one); staff close sessions with the list's action."""

    list_display = (
        "id",
        "player",
        "game",
        "currency",
        "state",
        "created_at",
        "expires_at",
        "absolute_expires_at",
        "closed_at",
    )
    list_filter = (GameSessionStateFilter, "provider", "currency")
    search_fields = ("=player__player_id", "=id")
    list_select_related = ("player", "game", "currency")
    show_full_result_count = False
    # A session is launched for every game opened: no count(*) of them all on each page.
    paginator = EstimatedCountPaginator
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
        "closed_at",
    )

    actions = ["close_sessions"]

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (the joined player's id = term OR id = term)
        # read every session when the term was a number.
        return session_search(queryset, search_term), False

    def get_ordering(self, request):
        # As the rounds' (RoundAdmin.get_ordering): only the player's index has created_at, so
        # by the key; one player's sessions along session_player_idx.
        if "player__id__exact" in request.GET:
            return ("-created_at", "-id")
        return ("-id",)

    @admin.display(description="state")
    def state(self, obj: GameSession) -> str:
        return session_state(session=obj)["state"]

    @admin.action(description="Close selected sessions (bets refused, wins still paid)", permissions=["change"])
    def close_sessions(self, request, queryset):
        closed = sessions_close(
            sessions=queryset, changed_by=request.user.get_username(), reason="closed in back office (session list)"
        )
        messages.success(request, f"Closed {closed} open game session(s).")


@admin.register(PlatformSwitch)
class PlatformSwitchAdmin(SettingsAuditAdmin):
    list_display = ("name", "is_on", "reason", "changed_by", "changed_at")
    list_editable = ("is_on",)
    readonly_fields = ("changed_by", "changed_at")
    saved_with_every_change = ("changed_by", "changed_at")

    def save_model(self, request, obj, form, change):
        obj.changed_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    def reason(self, obj: PlatformSwitch, form) -> str:
        # A toggle in the list, or a save that left the reason as it was, gives none.
        return obj.reason if "reason" in form.changed_data else ""


class OperatorApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=OperatorApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=OperatorApiKey._meta.get_field("scopes").help_text,
    )

    class Meta:
        model = OperatorApiKey
        fields = ("name", "is_active", "scopes", "rate_limit_per_second")

    # Set by OperatorApiKeyAdmin.get_form for the staff member editing.
    may_grant_scopes = False

    def clean_scopes(self) -> list[str]:
        # One order whatever the ticking, so the trail records a change of scopes, not of order.
        return operator_scopes_held(self.cleaned_data["scopes"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        # Switching a key back on gives back its scopes: a grant of them, when they move money
        # or verify players. A key revoked after a leak stays off for staff who may not grant.
        stored = self.instance
        granting = set(stored.scopes) & {OperatorApiKey.Scope.CASHIER, OperatorApiKey.Scope.KYC}
        if stored.pk and not stored.is_active and cleaned.get("is_active") and granting and not self.may_grant_scopes:
            self.add_error(
                "is_active",
                f"This key holds {', '.join(sorted(granting))}: switching it back on needs the permission "
                '"Can change what an operator API key may call (its scopes)".',
            )
        return cleaned


@admin.register(OperatorApiKey)
class OperatorApiKeyAdmin(SettingsAuditAdmin):
    form = OperatorApiKeyForm
    list_display = ("name", "prefix", "is_active", "scopes_held", "rate_limit_per_second", "last_used_at", "created_at")
    fields = ("name", "prefix", "is_active", "scopes", "rate_limit_per_second", "last_used_at", "created_at")
    readonly_fields = ("prefix", "last_used_at", "created_at")

    @admin.display(description="scopes")
    def scopes_held(self, obj: OperatorApiKey) -> str:
        return ", ".join(operator_scopes_held(obj.scopes)) or "none"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.may_grant_scopes = request.user.has_perm("game_sessions.grant_scopes")
        return form

    def get_readonly_fields(self, request, obj=None):
        # Scopes decide whether a key moves money or verifies players: a grant of its own.
        if request.user.has_perm("game_sessions.grant_scopes"):
            return self.readonly_fields
        return (*self.readonly_fields, "scopes")

    def has_add_permission(self, request, obj=None):
        return False  # created with `manage.py create_operator_key`, which shows the key once
