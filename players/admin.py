from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html_join

from casino_platform import clock
from casino_platform.admin import (
    EstimatedCountPaginator,
    ExactSearch,
    IndexedSort,
    ReadOnlyAdmin,
    indexed_values_filter,
    shown_on_the_page,
)
from casino_platform.errors import DomainError, ValidationFailed
from ledger.forms import CurrencyAmountField, to_minor_units
from ledger.models import Currency
from wallet.models import MonitoringAlert, Wallet
from wallet.selectors import ACTIVITY_LOOKBACK, wallet_activity, wallet_deposits, wallet_net_losses, wallet_wagers

from .models import (
    BET_LIMITS,
    CoolingOffLimit,
    DailyPlayTimeLimit,
    DepositLimit,
    LossLimit,
    PeriodLimit,
    Player,
    PlayerAuditLog,
    PlayTimeLimit,
    SelfExclusionState,
    SessionTimeLimit,
    WagerLimit,
)
from .selectors import (
    DailyPlayTime,
    bet_limits_missing_in,
    player_audit_search,
    player_play_time,
    player_search,
    players_by_self_exclusion,
    utc_day_start,
)
from .services import (
    AUDITED_FIELDS,
    RESTRICTION_FIELDS,
    SESSION_TIME_LIMIT_MINUTES,
    player_block,
    player_create,
    player_self_exclusion_resume,
    player_self_exclusion_state,
    player_sessions_close,
    player_set_daily_play_time_limit,
    player_set_deposit_limit,
    player_set_loss_limit,
    player_set_session_time_limit,
    player_set_wager_limit,
    player_unblock,
    player_update,
    player_update_by_staff,
    restriction_as_seen,
    restriction_ends_early,
    self_exclusion_change_lets_play,
)

# What each kind of limit holds, for the page that sets it.
_LIMIT_KINDS: dict[str, tuple[type[PeriodLimit], Callable[..., PeriodLimit | None], str]] = {
    "loss": (
        LossLimit,
        player_set_loss_limit,
        "A debit that would take the period's net loss (debits less credits and rollbacks) over the limit is refused.",
    ),
    "wager": (
        WagerLimit,
        player_set_wager_limit,
        "A debit that would take what the period has wagered (bets less those rolled back; wins are not deducted) "
        "over the limit is refused.",
    ),
    "deposit": (
        DepositLimit,
        player_set_deposit_limit,
        "A cashier deposit that would take the period's deposits over the limit is refused; withdrawals do not "
        "make room again. Staff's deposits in 'Move money…' count towards it but are not refused.",
    ),
}

# The same for the limits in minutes, each with what it ends.
_PLAY_TIME_KINDS: dict[str, tuple[type[PlayTimeLimit], Callable[..., PlayTimeLimit | None], str]] = {
    "session-time": (
        SessionTimeLimit,
        player_set_session_time_limit,
        "A game session ends this many minutes after its launch, whatever the play in it.",
    ),
    "daily-play-time": (
        DailyPlayTimeLimit,
        player_set_daily_play_time_limit,
        "The player's game sessions in a UTC day last this many minutes in all (sessions open side by side count "
        "once): a session ends when what is left of the day runs out, and a launch with nothing left is refused "
        "until midnight UTC.",
    ),
}


class LimitChangeForm(forms.Form):
    """A limit's new value (the field named `value_field`) or its removal, and why."""

    value_field = ""
    value_noun = ""
    remove = forms.BooleanField(required=False, label="Remove the limit instead")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept in the player's audit log.")

    def clean(self) -> dict:
        data = super().clean() or {}
        # An empty value is not a removal: that is asked for explicitly.
        given = data.get(self.value_field) is not None
        if data.get("remove") == given and self.value_field not in self.errors:
            raise forms.ValidationError(f"Give {self.value_noun}, or tick 'Remove the limit instead', not both.")
        return data


class PeriodLimitForm(LimitChangeForm):
    value_field, value_noun = "amount", "an amount"
    # Every currency: a limit set before its currency was disabled can still be tightened or removed.
    currency = forms.ModelChoiceField(queryset=Currency.objects.all(), to_field_name="code")
    period = forms.ChoiceField(choices=PeriodLimit.Period.choices)
    amount = CurrencyAmountField(
        required=False,
        min_value=0,
        help_text="In the chosen currency, as it is written: 250.00 for EUR 250, 250 for JPY 250.",
    )
    field_order = ["currency", "period", "amount", "remove", "reason"]

    def clean(self) -> dict:
        data = super().clean()
        # In minor units once the currency is known: the service and the database keep them.
        if data.get("amount") is not None and data.get("currency") is not None:
            try:
                data["amount"] = to_minor_units(data["amount"], data["currency"])
            except forms.ValidationError as error:
                self.add_error("amount", error)
        return data


class PlayTimeLimitForm(LimitChangeForm):
    value_field, value_noun = "minutes", "the minutes"
    minutes = forms.IntegerField(
        required=False, min_value=SESSION_TIME_LIMIT_MINUTES[0], max_value=SESSION_TIME_LIMIT_MINUTES[1]
    )
    field_order = ["minutes", "remove", "reason"]


def _pending(limit: CoolingOffLimit, shown: Callable[[int], str]) -> str:
    """A limit's change waiting out its cooling-off, or '-'."""
    if limit.pending_from is None:
        return "-"
    what = "removal" if limit.pending_amount is None else shown(limit.pending_amount)
    return f"{what} from {limit.pending_from:%Y-%m-%d %H:%M} UTC"


class PeriodLimitInline(admin.TabularInline):
    extra = 0
    fields = ("currency", "period", "amount_display", "used_display", "pending_display", "updated_at")
    readonly_fields = fields
    can_delete = False
    # What the limit is held against so far this period (wallet.selectors).
    used: Callable[..., dict[str, int]]

    @admin.display(description="Limit in force")
    def amount_display(self, obj: PeriodLimit) -> str:
        return obj.currency.format(obj.amount)

    @admin.display(description="So far this period (UTC)")
    def used_display(self, obj: PeriodLimit) -> str:
        # Support's answer to "why was I refused?": the same sum the debit or deposit is held against.
        wallet = Wallet.objects.filter(player_id=obj.player_id, currency_id=obj.currency_id).first()
        so_far = type(self).used(wallet=wallet, periods=[obj.period], now=clock.now())[obj.period] if wallet else 0
        return f"{obj.currency.format(so_far)} ({obj.currency.format(max(0, obj.amount - so_far))} left)"

    @admin.display(description="Waiting (cooling-off)")
    def pending_display(self, obj: PeriodLimit) -> str:
        return _pending(obj, obj.currency.format)

    def has_add_permission(self, request, obj=None):
        return False  # set through the service, so every change is audited


class LossLimitInline(PeriodLimitInline):
    model = LossLimit
    used = staticmethod(wallet_net_losses)


class WagerLimitInline(PeriodLimitInline):
    model = WagerLimit
    used = staticmethod(wallet_wagers)


class DepositLimitInline(PeriodLimitInline):
    model = DepositLimit
    used = staticmethod(wallet_deposits)


class SessionTimeLimitInline(admin.TabularInline):
    model: type[PlayTimeLimit] = SessionTimeLimit
    extra = 0
    fields = ("amount_display", "pending_display", "updated_at")
    readonly_fields = fields
    can_delete = False

    @admin.display(description="Limit in force")
    def amount_display(self, obj: PlayTimeLimit) -> str:
        return f"{obj.amount} minutes"

    @admin.display(description="Waiting (cooling-off)")
    def pending_display(self, obj: PlayTimeLimit) -> str:
        return _pending(obj, lambda minutes: f"{minutes} minutes")

    def has_add_permission(self, request, obj=None):
        return False  # set through the service, so every change is audited


class DailyPlayTimeLimitInline(SessionTimeLimitInline):
    model = DailyPlayTimeLimit
    fields = ("amount_display", "played_display", "pending_display", "updated_at")  # type: ignore[assignment]
    readonly_fields = fields  # type: ignore[assignment]

    @admin.display(description="So far today (UTC)")
    def played_display(self, obj: DailyPlayTimeLimit) -> str:
        # Support's answer to "why can't I play?": the same time the launch is held against.
        now = clock.now()
        daily = DailyPlayTime(obj, player_play_time(player_pk=obj.player_id, since=utc_day_start(now), until=now))
        return f"{_minutes(daily.played)} ({_minutes(daily.left)} left)"


def _minutes(span: timedelta) -> str:
    whole = int(span.total_seconds()) // 60
    return f"{whole // 60} h {whole % 60:02d} min" if whole >= 60 else f"{whole} min"


class WalletInline(admin.TabularInline):
    """The player's money on their page: what support is asked about first."""

    model = Wallet
    extra = 0
    fields = ("currency", "balance_display", "recent_display", "links")
    readonly_fields = fields
    can_delete = False

    def get_queryset(self, request):
        wallets = super().get_queryset(request).select_related("currency", "player")
        # Links only to the pages this member of staff may open (a role's, casino_platform/
        # staff_roles.py). Django makes the inline anew for each request, so this is theirs.
        self.may_open = {
            page: request.user.has_perm(permission)
            for page, permission in (
                ("entries", "ledger.view_entry"),
                ("rounds", "game_sessions.view_round"),
                ("withdrawals", "wallet.view_withdrawal"),
                ("move", "wallet.change_wallet"),
            )
        }
        if request.user.has_perm("wallet.view_monitoringalert"):
            # Only staff who may see monitoring alerts learn that a wallet has some.
            waiting = Count("monitoring_alerts", filter=Q(monitoring_alerts__status=MonitoringAlert.Status.PENDING))
            wallets = wallets.annotate(alerts_waiting=waiting)
        return wallets

    @admin.display(description="Balance")
    def balance_display(self, obj: Wallet) -> str:
        return obj.currency.format(obj.balance)

    @admin.display(description=f"Last {ACTIVITY_LOOKBACK.days} days")
    def recent_display(self, obj: Wallet) -> str:
        figures = wallet_activity(wallet=obj, since=clock.now() - ACTIVITY_LOOKBACK)
        shown = ("deposited", "withdrawn", "wagered", "won", "net")
        return ", ".join(f"{name} {obj.currency.format(figures[name])}" for name in shown)

    @admin.display(description="")
    def links(self, obj: Wallet) -> str:
        # By the wallet's key (wallet.admin.OneWalletFilter): a search by the player's id
        # compared the joined player's column and read every withdrawal or alert.
        this_wallet = {"wallet": obj.pk}
        # By the player's key, not a search: round_player_history serves it, newest first.
        rounds = {"player__id__exact": obj.player_id, "currency__code__exact": obj.currency_id}
        pages = [
            (
                "entries",
                "Ledger entries",
                reverse("admin:ledger_entry_changelist") + f"?account__id__exact={obj.account_id}",
            ),
            ("rounds", "Rounds", reverse("admin:game_sessions_round_changelist") + "?" + urlencode(rounds)),
            (
                "withdrawals",
                "Withdrawals",
                reverse("admin:wallet_withdrawal_changelist") + "?" + urlencode({"status": "all", **this_wallet}),
            ),
        ]
        if hasattr(obj, "alerts_waiting"):
            waiting = f" ({obj.alerts_waiting} waiting)" if obj.alerts_waiting else ""
            alerts = (
                reverse("admin:wallet_monitoringalert_changelist") + "?" + urlencode({"status": "all", **this_wallet})
            )
            pages.append(("alerts", f"Monitoring alerts{waiting}", alerts))
        pages.append(("move", "Move money…", reverse("admin:wallet_wallet_move", args=[obj.pk])))
        shown = ((url, text) for page, text, url in pages if self.may_open.get(page, True))
        return format_html_join(" · ", '<a href="{}">{}</a>', shown)

    def has_add_permission(self, request, obj=None):
        return False  # a wallet opens with the player's first deposit or win in its currency


class AuditInline(admin.TabularInline):
    model = PlayerAuditLog
    extra = 0
    fields = ("changed_at", "field", "old_value", "new_value", "changed_by", "reason")
    readonly_fields = fields
    can_delete = False
    ordering = ("-changed_at",)

    def has_add_permission(self, request, obj=None):
        return False


class HoldsMoneyFilter(admin.SimpleListFilter):
    """With "Status: closed", the accounts whose money the operator still owes and must pay out."""

    title = "money held"
    parameter_name = "holds_money"

    def lookups(self, request, model_admin):
        return [("yes", "Holds money"), ("no", "Holds none")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        holding = Exists(Wallet.objects.filter(player=OuterRef("pk"), balance__gt=0))
        return queryset.filter(holding if self.value() == "yes" else ~holding)


class SelfExclusionFilter(admin.SimpleListFilter):
    """Where players' self-exclusions stand: above all, those whose player has yet to ask to
    play again, for support to call back or compliance to count."""

    title = "self-exclusion"
    parameter_name = "self_exclusion"
    shown = (
        SelfExclusionState.IN_FORCE,
        SelfExclusionState.AWAITING_REQUEST,
        SelfExclusionState.COOLING_OFF,
        SelfExclusionState.ENDED,
    )

    def lookups(self, request, model_admin):
        return [(state.value, state.label) for state in self.shown]

    @classmethod
    def is_on(cls, request) -> bool:
        return request.GET.get(cls.parameter_name) in {state.value for state in cls.shown}

    def queryset(self, request, queryset):
        if not self.is_on(request):
            return queryset
        return players_by_self_exclusion(queryset, state=request.GET[self.parameter_name], now=clock.now())


# How many of the players an action was asked for its reason page names (it acts on all),
# and how many one action may be asked for (wallet.admin's bulk decisions take 500 too).
MAX_PLAYERS_LISTED = 50
MAX_PLAYERS_PER_ACTION = 500
# Fields whose change on the player's page needs a reason of the staff member's own.
REASON_NEEDED_FOR = ("status", "kyc_status", "country")


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200, help_text="Kept in each player's audit log.", widget=forms.TextInput(attrs={"size": 60})
    )


class PlayerForm(forms.ModelForm):
    """The player's change form, with the reason its changes are audited under. A page carries
    the self-exclusion and time-out its staff member saw: one the player changed since is
    neither changed by a save of the page nor counted as changed. Ending one early is refused
    here, before the service refuses it under the player's lock, so that staff see why on the
    field."""

    change_reason = forms.CharField(
        label="Reason for the change",
        required=False,
        max_length=200,
        help_text=(
            "Kept in the player's audit log. Needed to change the status, the KYC status or the country, "
            "and to end a self-exclusion or time-out early."
        ),
    )
    # Set by PlayerAdmin.get_form for the staff member editing.
    may_lift_restrictions = False

    class Meta:
        model = Player
        fields = ("player_id", "display_name", "country", "status", *RESTRICTION_FIELDS, "kyc_status", "kyc_reference")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What staff saw, posted back beside what they typed: changed_data compares the two, so
        # a field changed since the page was opened (the player closed the account, the casino
        # revoked the verification) is not taken for one staff changed, nor written back.
        for field in AUDITED_FIELDS:
            if field in self.fields:
                self.fields[field].show_hidden_initial = True
        # The fields this save changes, as the page showed them (for the service, which checks
        # them again under the player's lock).
        self.fields_seen: dict[str, Any] = {}

    def _seen(self, field: str) -> datetime | None:
        return self[field].field.clean(shown_on_the_page(self, field))

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        if self.instance.pk is None:
            return cleaned
        for field in AUDITED_FIELDS:
            if field in RESTRICTION_FIELDS or field not in self.changed_data or field not in cleaned:
                continue
            bound = self[field]
            posted = shown_on_the_page(self, field)
            if posted is None:
                continue  # a post without the page's copy (a script): the field as posted
            current = getattr(self.instance, field)
            try:
                # Both sides as the field reads them, unvalidated: a stored value the form would
                # now refuse (an old lowercase country) can still be corrected.
                shown = bound.field.to_python(posted)
            except ValidationError:
                shown = None
            if not _same_text(shown, bound.field.to_python(bound.field.prepare_value(current))):
                label = bound.label or field
                self.add_error(
                    field,
                    f"{label} has changed since this page was opened: it is now {current!r}. Open the page again.",
                )
                continue
            # As stored: the service compares it with the row under the player's lock.
            self.fields_seen[field] = current
        now = clock.now()
        for field, noun in RESTRICTION_FIELDS.items():
            if field not in self.changed_data or field not in cleaned:
                continue
            current = getattr(self.instance, field)
            try:
                seen = self._seen(field)
            except ValidationError:  # not a time: not what the page showed
                seen, current_shown = None, False
            else:
                current_shown = restriction_as_seen(current=current, seen=seen)
            if not current_shown:
                until = f"until {current:%Y-%m-%d %H:%M:%S} UTC" if current else "not set"
                self.add_error(
                    field, f"The {noun} has changed since this page was opened: it is now {until}. Open the page again."
                )
                continue
            self.fields_seen[field] = seen
            in_force = restriction_ends_early(current=current, new=cleaned[field], now=now)
            waiting = field == "self_excluded_until" and self_exclusion_change_lets_play(
                player=self.instance, until=cleaned[field], now=now
            )
            if not (in_force or waiting):
                continue
            if not self.may_lift_restrictions:
                self.add_error(
                    field,
                    f"The {noun} is in force until {current:%Y-%m-%d %H:%M} UTC: it can be extended, not ended "
                    f'early, except by staff with the permission "Can end a self-exclusion or time-out early".'
                    if in_force
                    else f"The self-exclusion ended at {current:%Y-%m-%d %H:%M} UTC, but play waits for the player's "
                    "request to play again and the cooling-off: this change lets them play now, which needs the "
                    'permission "Can end a self-exclusion or time-out early".',
                )
            elif not cleaned.get("change_reason", "").strip() and "change_reason" not in self.errors:
                self.add_error("change_reason", f"Say why the {noun} ends early: it is kept in the audit log.")
        weighty = [str(self[field].label) for field in REASON_NEEDED_FOR if field in self.changed_data]
        if weighty and not cleaned.get("change_reason", "").strip() and "change_reason" not in self.errors:
            # These decide what the player may do with their money (a block, an account
            # reopened, payouts unlocked by a verification, the games a country may play):
            # who changed them is not enough for an audit, why is needed too.
            changed = ", ".join(weighty).lower()
            self.add_error("change_reason", f"Say why the {changed} changes: it is kept in the audit log.")
        return cleaned


def _country_recorded_meanwhile(recorded: str) -> None:
    raise ValidationFailed(
        f"The player's country is recorded as {recorded}: only staff who may change KYC (players.change_kyc) "
        "move it. Nothing was changed.",
        details={"country": ["recorded: moved by compliance"]},
    )


def _some(player_ids: list[str]) -> str:
    """Player ids for a message: the first twenty, and how many more."""
    more = len(player_ids) - 20
    return ", ".join(player_ids[:20]) + (f" and {more} more" if more > 0 else "")


def _same_text(a: Any, b: Any) -> bool:
    """The same value, whitespace aside: a page's hidden copy comes back with the browser's
    line ends, and its visible text field drops a line break the API may have stored."""
    return " ".join(str(a or "").split()) == " ".join(str(b or "").split())


def _may_set(request, model: type[CoolingOffLimit]) -> bool:
    """Whether this member of staff may set players' limits of this kind (the limits' pages)."""
    return request.user.has_perms(["players.change_player", f"players.change_{model._meta.model_name}"])


@admin.register(Player)
class PlayerAdmin(IndexedSort, ExactSearch, admin.ModelAdmin):
    form = PlayerForm
    list_display = (
        "player_id",
        "display_name",
        "country",
        "status",
        "kyc_status",
        "self_excluded_until",
        "timed_out_until",
    )
    list_filter = (
        "status",
        HoldsMoneyFilter,
        "kyc_status",
        SelfExclusionFilter,
        indexed_values_filter("country", "country"),
    )
    search_fields = ("=player_id", "display_name")
    search_help_text = (
        "A player's id, exactly as written; any other text is looked for in the display names, which reads every "
        "player and takes longer."
    )
    readonly_fields = ("self_exclusion", "created_at", "updated_at")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # Django's "Show counts" counts every filter's choices over every player: minutes on a
    # casino's table.
    show_facets = admin.ShowFacets.NEVER

    def get_ordering(self, request):
        if SelfExclusionFilter.is_on(request):
            # Along the partial index of the players who have a self-exclusion: by player id,
            # PostgreSQL walked every player's id to find the few whose player has yet to ask.
            return ("-self_excluded_until", "player_id")
        return super().get_ordering(request)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if SelfExclusionFilter.is_on(request):
            # Counted exactly: no more rows than players with a self-exclusion, read along
            # their index, where the planner's estimate of those waiting was a thousandfold off.
            return Paginator(queryset, per_page, orphans, allow_empty_first_page)
        return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)

    def get_search_results(self, request, queryset, search_term):
        # An id by its unique index; the names (a "contains" no index answers) only for a term
        # that is no player's id, so that support keep finding players by name as before.
        return player_search(queryset, search_term), False

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The form class is made from PlayerForm, which the admin's `form` names.
        form = cast(type[PlayerForm], super().get_form(request, obj, change=change, **kwargs))
        form.may_lift_restrictions = request.user.has_perm("players.lift_restriction")
        return form

    def get_object(self, request, object_id, from_field=None):
        player = super().get_object(request, object_id, from_field)
        if player is not None:
            # The limits' pages this member of staff may open (_limit_page), for limits_link:
            # one that sends them back ("You may not…") is no link.
            pages: list[tuple[str, type[CoolingOffLimit]]] = [
                (f"players_player_{kind}_limit", model) for kind, (model, *_) in _LIMIT_KINDS.items()
            ]
            pages += [
                (f"players_player_{kind.replace('-', '_')}_limit", model)
                for kind, (model, *_) in _PLAY_TIME_KINDS.items()
            ]
            opened = [(name, model.noun) for name, model in pages if _may_set(request, model)]
            player.limit_pages = opened
        return player

    def get_readonly_fields(self, request, obj=None):
        # A verified player is paid out: the KYC status is compliance's to change
        # (players.change_kyc), not every editor's.
        compliance = request.user.has_perm("players.change_kyc")
        kyc = () if compliance else ("kyc_status", "kyc_reference")
        # The operator's id is what providers know the player by: fixed once created.
        if obj is None:
            return (*self.readonly_fields, *kyc)
        # The country decides which games the player may launch (licensing): once recorded,
        # it is moved by compliance, as through the API only a key with the `kyc` scope moves it.
        country = ("country",) if obj.country and not compliance else ()
        limits = ("limits_link",) if getattr(obj, "limit_pages", None) else ()
        return (*self.readonly_fields, "player_id", *kyc, *country, *limits)

    @admin.display(description="Self-exclusion")
    def self_exclusion(self, obj: Player) -> str:
        state = player_self_exclusion_state(player=obj, now=clock.now())
        if state == SelfExclusionState.AWAITING_REQUEST:
            return f"{state.label} (the action “Record their request to play again…” on the players' list)."
        if obj.self_exclusion_resumes_at is not None and state != SelfExclusionState.NONE:
            return f"{state.label}; play resumes at {obj.self_exclusion_resumes_at:%Y-%m-%d %H:%M} UTC."
        return state.label

    @admin.display(description="Limits")
    def limits_link(self, obj: Player) -> str:
        pages: list[tuple[str, str]] = obj.limit_pages  # type: ignore[attr-defined]  # get_object's
        links = ((reverse(f"admin:{name}", args=[obj.pk]), f"Set a {noun}…") for name, noun in pages)
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def get_urls(self):
        view = self.admin_site.admin_view(self.limit_view)
        play_time_view = self.admin_site.admin_view(self.play_time_limit_view)
        return (
            [
                path(f"<int:player_pk>/{kind}-limit/", view, name=f"players_player_{kind}_limit", kwargs={"kind": kind})
                for kind in _LIMIT_KINDS
            ]
            + [
                path(
                    f"<int:player_pk>/{kind}-limit/",
                    play_time_view,
                    name=f"players_player_{kind.replace('-', '_')}_limit",
                    kwargs={"kind": kind},
                )
                for kind in _PLAY_TIME_KINDS
            ]
            + super().get_urls()
        )

    def play_time_limit_view(self, request, player_pk: int, kind: str):
        model, set_limit, ends = _PLAY_TIME_KINDS[kind]

        def change(player: Player, data: dict[str, Any], staff: str) -> str:
            minutes = None if data["remove"] else data["minutes"]
            limit = set_limit(player=player, minutes=minutes, changed_by=staff, reason=data["reason"])
            return _play_time_limit_outcome(model, limit)

        return self._limit_page(
            request,
            player_pk,
            model,
            PlayTimeLimitForm,
            change,
            "admin/players/play_time_limit.html",
            lambda player: {
                "ends": ends,
                "noun": model.noun,
                "limit": model.objects.filter(player=player).first(),
            },
        )

    def limit_view(self, request, player_pk: int, kind: str):
        model, set_limit, holds = _LIMIT_KINDS[kind]

        def change(player: Player, data: dict[str, Any], staff: str) -> str:
            currency: Currency = data["currency"]
            limit = set_limit(
                player=player,
                currency=currency.code,
                period=data["period"],
                amount=None if data["remove"] else data["amount"],
                changed_by=staff,
                reason=data["reason"],
            )
            return _limit_outcome(model, limit, currency, data["period"]) + _currencies_left_unlimited(player, model)

        return self._limit_page(
            request,
            player_pk,
            model,
            PeriodLimitForm,
            change,
            "admin/players/period_limit.html",
            lambda player: {
                "holds": holds,
                # In the currency's units, as the player's page shows them: the page listed
                # minor units, which are cents only at exponent 2.
                "limits": [
                    {
                        "limit": limit,
                        "amount": limit.currency.format(limit.amount),
                        "waiting": _pending(limit, limit.currency.format),
                    }
                    for limit in model.objects.filter(player=player).select_related("currency")
                ],
            },
        )

    def _limit_page(
        self,
        request,
        player_pk: int,
        model: type[CoolingOffLimit],
        form_class: type[LimitChangeForm],
        change: Callable[[Player, dict[str, Any], str], str],
        template: str,
        page: Callable[[Player], dict[str, Any]],
    ):
        """The page that sets one kind of limit: for staff who may change players and that kind;
        a valid form is `change`d (by the service, audited) and its outcome told on the
        player's page, a refusal told on this one."""
        if not _may_set(request, model):
            messages.error(request, f"You may not change players' {model.noun}s.")
            return redirect("admin:players_player_changelist")
        player = get_object_or_404(Player, pk=player_pk)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                outcome = change(player, form.cleaned_data, request.user.get_username())
            except DomainError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
            else:
                messages.success(request, outcome)
                return redirect("admin:players_player_change", player.pk)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "player": player,
            "title": f"Set a {model.noun}: {player}",
            "opts": self.model._meta,
            **page(player),
        }
        return render(request, template, context)

    inlines = [
        WalletInline,
        LossLimitInline,
        WagerLimitInline,
        DepositLimitInline,
        SessionTimeLimitInline,
        DailyPlayTimeLimitInline,
        AuditInline,
    ]
    actions = ["block_players", "unblock_players", "close_game_sessions", "record_resume_requests"]

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
        reason = form.cleaned_data.get("change_reason", "").strip()
        try:
            player_update_by_staff(
                player=obj,
                changed_by=request.user.get_username(),
                reason=reason or "back office edit",
                changes=changes,
                seen=form.fields_seen,
                # Only with a reason of their own: the default one explains no lifting.
                lift_early=bool(reason) and request.user.has_perm("players.lift_restriction"),
                # A country recorded since the page was read is read-only for them too.
                on_recorded_country_move=None
                if request.user.has_perm("players.change_kyc")
                else _country_recorded_meanwhile,
            )
        except DomainError as exc:
            # Refused under the player's lock (a change made since the form was checked):
            # nothing was saved, so neither the history nor the answer says it was.
            request.player_change_refused = True
            messages.error(request, exc.message)

    def log_change(self, request, obj, message):
        if getattr(request, "player_change_refused", False):
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        if getattr(request, "player_change_refused", False):
            return redirect("admin:players_player_change", obj.pk)
        return super().response_change(request, obj)

    def with_a_reason(self, request, queryset, *, action: str, title: str, explain: str, apply) -> Any:
        """An action's two steps: a page naming the selected players and asking why, then
        `apply(players, reason)` and back to the list. The reason is each player's audit
        record's: a fixed one ("blocked in back office") said who, never why."""
        if queryset.count() > MAX_PLAYERS_PER_ACTION:
            # The page posts the players back by their keys, one field each: past Django's
            # 1,000 fields (and the body's 64 KiB) the confirmation itself would be refused.
            messages.error(request, f"Select at most {MAX_PLAYERS_PER_ACTION} players at a time.")
            return None
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            apply(list(queryset.order_by("pk")), form.cleaned_data["reason"].strip())
            return None
        players = list(queryset.order_by("pk")[: MAX_PLAYERS_LISTED + 1])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "explain": explain,
            "form": form,
            "action": action,
            "players": players[:MAX_PLAYERS_LISTED],
            "more": queryset.count() - MAX_PLAYERS_LISTED if len(players) > MAX_PLAYERS_LISTED else 0,
            "ids": list(queryset.values_list("pk", flat=True)),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:players_player_changelist"),
        }
        return render(request, "admin/players/player_action_reason.html", context)

    @admin.action(description="Block selected players…", permissions=["change"])
    def block_players(self, request, queryset):
        # Closed accounts too: a block freezes their money, which a closure leaves free to
        # withdraw; the unblock gives the closure back (player_unblock).
        def block(players: list[Player], reason: str) -> None:
            for player in players:
                player_block(player=player, changed_by=request.user.get_username(), reason=reason)
            messages.success(request, f"Blocked {len(players)} player(s).")

        return self.with_a_reason(
            request,
            queryset,
            action="block_players",
            title="Block players",
            explain="Their bets, deposits and withdrawals are refused and their game sessions closed; wins owed "
            "are still paid.",
            apply=block,
        )

    @admin.action(description="Close their open game sessions (bets refused, wins still paid)…", permissions=["change"])
    def close_game_sessions(self, request, queryset):
        def close(players: list[Player], reason: str) -> None:
            staff = request.user.get_username()
            closed = sum(player_sessions_close(player=player, changed_by=staff, reason=reason) for player in players)
            messages.success(request, f"Closed {closed} open game session(s) of {len(players)} player(s).")

        return self.with_a_reason(
            request,
            queryset,
            action="close_game_sessions",
            title="Close the players' open game sessions",
            explain="Their bets on those sessions are refused from now on; wins owed are still paid.",
            apply=close,
        )

    @admin.action(description="Unblock selected players…", permissions=["change"])
    def unblock_players(self, request, queryset):
        # Blocked ones only: a closed account is reopened on its page, with the field and its audit.
        def unblock(players: list[Player], reason: str) -> None:
            for player in players:
                player_unblock(player=player, changed_by=request.user.get_username(), reason=reason)
            messages.success(request, f"Unblocked {len(players)} player(s).")

        return self.with_a_reason(
            request,
            queryset.filter(status=Player.Status.BLOCKED),
            action="unblock_players",
            title="Unblock players",
            explain="Only blocked players are unblocked; a closed account is reopened on its own page.",
            apply=unblock,
        )

    @admin.action(description="Record their request to play again after a self-exclusion…", permissions=["change"])
    def record_resume_requests(self, request, queryset):
        # The UKGC's positive action, taken by phone or in person as often as through the
        # casino's site: support record it here, and play resumes after the cooling-off.
        def record(players: list[Player], reason: str) -> None:
            staff, recorded, in_force, nothing = request.user.get_username(), 0, [], []
            for player in players:
                before = player.self_exclusion_resumes_at
                try:
                    after = player_self_exclusion_resume(player=player, changed_by=staff, reason=reason)
                except ValidationFailed:
                    in_force.append(player.player_id)
                    continue
                if after.self_exclusion_resumes_at != before:
                    recorded += 1
                else:
                    nothing.append(player.player_id)
            if recorded:
                messages.success(request, f"Recorded the request of {recorded} player(s).")
            if in_force:
                messages.warning(
                    request, f"Still self-excluded, so not recorded: {_some(in_force)}. They can ask once it has ended."
                )
            if nothing:
                messages.info(
                    request,
                    f"Nothing to record for {_some(nothing)}: no self-exclusion of theirs waits for a request "
                    "(none, or they have asked already).",
                )

        hours = settings.RG_SELF_EXCLUSION_RESUME_DELAY_HOURS
        return self.with_a_reason(
            request,
            queryset,
            action="record_resume_requests",
            title="Record the players' requests to play again",
            explain=f"Only players whose self-exclusion has ended and waits for their request are changed: play "
            f"resumes {hours} hour(s) from now (RG_SELF_EXCLUSION_RESUME_DELAY_HOURS). A self-exclusion still in "
            "force is not ended.",
            apply=record,
        )


@admin.register(PlayerAuditLog)
class PlayerAuditLogAdmin(ReadOnlyAdmin):
    list_display = ("changed_at", "player", "field", "old_value", "new_value", "changed_by", "reason")
    list_filter = (indexed_values_filter("field", "field"),)
    search_fields = ("=player__player_id", "=changed_by")
    list_select_related = ("player",)
    show_full_result_count = False
    # Every change to every player: no count(*) of the whole log on each page.
    paginator = EstimatedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (the joined player's id = term OR changed_by =
        # term) read the whole log.
        return player_audit_search(queryset, search_term), False


def _limit_outcome(model: type[PeriodLimit], limit: PeriodLimit | None, currency: Currency, period: str) -> str:
    if limit is None:
        return f"No {period} {model.noun} in {currency.code}."
    in_force = currency.format(limit.amount)
    if limit.pending_from is None:
        return f"The {period} {model.noun} in {currency.code} is {in_force}, in force now."
    waiting = "Its removal" if limit.pending_amount is None else currency.format(limit.pending_amount)
    return (
        f"The {period} {model.noun} in {currency.code} stays {in_force} until {limit.pending_from:%Y-%m-%d %H:%M} UTC; "
        f"{waiting} takes effect then (cooling-off)."
    )


def _currencies_left_unlimited(player: Player, model: type[PeriodLimit]) -> str:
    """What staff should know after a loss or wager limit's change: the player's currencies
    that now lack a bet limit of a period another currency has, in which games are refused
    (and the open sessions were closed) until one is set."""
    if model not in BET_LIMITS:
        return ""
    player = Player.objects.get(pk=player.pk)  # has_bet_limits as the change left it
    currencies = player.wallets.order_by("currency_id").values_list("currency_id", flat=True)
    lacking = [
        f"{code} (no {kind.noun} per {missing.period})"
        for code, kind, missing in bet_limits_missing_in(player=player, currencies=currencies)
    ]
    if not lacking:
        return ""
    return (
        f" Games in {', '.join(lacking)} are refused, and their open sessions closed, until a limit of that "
        "period is set there too: a limit counts only its own currency's bets."
    )


def _play_time_limit_outcome(model: type[PlayTimeLimit], limit: PlayTimeLimit | None) -> str:
    if limit is None:
        return f"No {model.noun}."
    if limit.pending_from is None:
        return f"The {model.noun} is {limit.amount} minutes, in force now; open sessions end within it."
    waiting = "Its removal" if limit.pending_amount is None else f"{limit.pending_amount} minutes"
    return (
        f"The {model.noun} stays {limit.amount} minutes until {limit.pending_from:%Y-%m-%d %H:%M} UTC; "
        f"{waiting} takes effect then (cooling-off)."
    )
