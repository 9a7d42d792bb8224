import logging
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.db.models import Case, Expression, Value, When
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from casino_platform import clock
from casino_platform.admin import (
    ActionOnlyAdmin,
    EstimatedCountPaginator,
    FlaggedFilter,
    PendingFirst,
    ReadOnlyAdmin,
    ReadOnlyInline,
)
from casino_platform.errors import DomainError
from casino_platform.validators import bigint_or_none
from ledger.exports import csv_lines, in_chunks, table_lines
from ledger.forms import CurrencyAmountField, to_minor_units
from ledger.models import Currency
from ledger.money import Money
from players.models import Player
from players.services import player_may_be_paid
from sessions.models import Round

from .errors import WithdrawalNotAllowed
from .models import (
    MonitoringAlert,
    RollbackTombstone,
    StaffDayTotal,
    StaffMovement,
    Wallet,
    Withdrawal,
    WithdrawalEvent,
)
from .selectors import (
    ACTIVITY_LOOKBACK,
    MONITORING_ALERT_COLUMNS,
    MONITORING_ALERT_MONEY,
    monitoring_alert_deposits,
    monitoring_alert_lines,
    monitoring_alert_search,
    staff_moved_alone_today,
    staff_movement_search,
    tombstone_search,
    wallet_activity,
    withdrawal_event_search,
    withdrawal_search,
)
from .services import (
    WalletResult,
    staff_money_move,
    staff_movement_approve,
    staff_movement_reject,
    withdrawal_approve,
    withdrawal_reject,
)
from .services.backoffice import is_payment_reference
from .services.monitoring import monitoring_alert_decide
from .services.webhooks import (
    UNDELIVERED,
    withdrawal_event_body,
    withdrawal_events_send_now,
    withdrawal_events_stop_sending,
)

logger = logging.getLogger(__name__)


class MoneyMovementForm(forms.Form):
    KINDS = [
        ("deposit", "Deposit"),
        ("withdraw", "Withdrawal"),
        ("adjust", "Adjustment (signed)"),
        ("return", "Return a failed payout (the withdrawal's reference; no amount)"),
    ]
    kind = forms.ChoiceField(choices=KINDS)
    amount = CurrencyAmountField(required=False)
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept in the ledger memo."
    )
    reference = forms.CharField(
        required=False,
        max_length=128,
        help_text="Optional idempotency reference (e.g. a bank transfer id); for a return, the withdrawal's.",
    )
    # Made when the form is shown: a movement without a reference is made idempotent by it, so
    # a second click, or a proxy's retry of the post, does not move the money again.
    submission = forms.RegexField(regex=r"\A[0-9a-f]{32}\Z", required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, currency: Currency, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["submission"].initial = uuid.uuid4().hex
        example = Money(1050, currency.code).decimal(currency.exponent)
        self.fields[
            "amount"
        ].help_text = f"In {currency.code}, e.g. {example} for {currency.format(1050)}. Adjustments may be negative."

    def clean_amount(self) -> int | None:
        """The amount in minor units of the wallet's currency."""
        amount = self.cleaned_data.get("amount")
        return None if amount is None else to_minor_units(amount, self.currency)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == "return":
            if not data.get("reference"):
                self.add_error("reference", "A return names the withdrawal by its reference.")
            if data.get("amount") is not None:
                self.add_error("amount", "A return gives back the whole withdrawal: leave the amount empty.")
        elif data.get("amount") is None and "amount" not in self.errors:
            self.add_error("amount", "This field is required.")
        return data


@admin.register(Wallet)
class WalletAdmin(ActionOnlyAdmin):
    """A wallet's balance moves only through its services ("Move money…" and the APIs), with
    its journal transaction. Its change page saves nothing: a plain admin's save wrote back
    every column as read when the page was requested, the balance included, over any
    movement committed meanwhile."""

    list_display = ("player", "currency", "balance_display", "updated_at", "move_money_link")
    list_filter = ("currency",)
    search_fields = ("=player__player_id",)
    # A wallet per player and currency: no count(*) of them all on each page.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_select_related = ("player", "currency")
    # The balance in the currency's units, as the list shows it, not bare minor units.
    fields = ("player", "currency", "balance_display", "account", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description="Balance", ordering="balance")
    def balance_display(self, obj: Wallet) -> str:
        return obj.currency.format(obj.balance)

    def get_list_display(self, request):
        # A link to a page that would send them back ("You may not move money") is not shown.
        if request.user.has_perm("wallet.change_wallet"):
            return self.list_display
        return tuple(name for name in self.list_display if name != "move_money_link")

    @admin.display(description="")
    def move_money_link(self, obj: Wallet) -> str:
        return format_html('<a href="{}">Move money…</a>', reverse("admin:wallet_wallet_move", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:wallet_id>/move/", self.admin_site.admin_view(self.move_money_view), name="wallet_wallet_move"),
            *super().get_urls(),
        ]

    def move_money_view(self, request, wallet_id: int):
        wallet = get_object_or_404(Wallet.objects.select_related("player", "currency"), pk=wallet_id)
        if not request.user.has_perm("wallet.change_wallet"):
            messages.error(request, "You may not move money.")
            return redirect("admin:wallet_wallet_changelist")
        form = MoneyMovementForm(request.POST or None, currency=wallet.currency)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            staff = f"staff:{request.user.get_username()}"
            try:
                # A return too: money back in on staff's word, under the same four eyes.
                outcome = staff_money_move(
                    wallet=wallet,
                    kind=data["kind"],
                    amount=data["amount"],
                    staff=staff,
                    reason=data["reason"],
                    reference=data["reference"] or None,
                    submission=data.get("submission") or None,
                )
                if outcome.waiting is not None and outcome.asked_before:
                    waiting = outcome.waiting
                    messages.warning(
                        request,
                        f"Nothing moved: this movement already waits for approval as staff movement "
                        f"{waiting.pk}, asked for by {waiting.requested_by} on "
                        f"{waiting.requested_at:%Y-%m-%d %H:%M} UTC.",
                    )
                    return redirect("admin:wallet_staffmovement_review", waiting.pk)
                if outcome.waiting is not None:
                    waiting = outcome.waiting
                    if waiting.held_because == StaffMovement.HeldBecause.DAY_TOTAL:
                        allowance = wallet.currency.format(wallet.currency.staff_daily_allowance or 0)
                        why = f"it would take what you moved alone today over {allowance}"
                    else:
                        why = f"over {wallet.currency.format(wallet.currency.staff_approval_above or 0)}"
                    messages.warning(
                        request,
                        f"Nothing moved yet: {why}, this movement waits for another member of "
                        f"staff to approve it (staff movement {waiting.pk}).",
                    )
                    # Its review page, which the requester may open to see it or take it back.
                    return redirect("admin:wallet_staffmovement_review", waiting.pk)
                assert outcome.result is not None
                result = outcome.result
            except DomainError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
                # What was typed, to correct and send again as a new movement: the refused one's
                # submission may be stored with its refusal.
                typed = {k: v for k, v in data.items() if k != "submission"}
                if typed.get("amount") is not None:
                    typed["amount"] = Money(typed["amount"], wallet.currency_id).decimal(wallet.currency.exponent)
                form = MoneyMovementForm(initial=typed, currency=wallet.currency)
            else:
                _message_movement(request, wallet, data, result)
                return redirect("admin:wallet_wallet_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "wallet": wallet,
            "balance": wallet.currency.format(wallet.balance),
            "approval_above": wallet.currency.format(wallet.currency.staff_approval_above or 0),
            "daily_allowance": wallet.currency.format(wallet.currency.staff_daily_allowance or 0),
            "moved_alone_today": wallet.currency.format(
                staff_moved_alone_today(staff=f"staff:{request.user.get_username()}", currency=wallet.currency_id)
            ),
            "title": f"Move money: {wallet}",
            "opts": self.model._meta,
        }
        return render(request, "admin/wallet/move_money.html", context)


def _message_movement(request, wallet: Wallet, data: dict[str, Any], result: WalletResult) -> None:
    """What the movement did, in the wallet's currency; a replay moved nothing now, and says so:
    staff who read "Done" would not look for the payment that was never booked."""
    balance = wallet.currency.format(result.balance)
    journal = f"ledger transaction {result.platform_transaction_id}"
    if result.replayed:
        reference = data.get("reference")
        what = f"under reference {reference}" if reference else "from this form, sent before"
        messages.warning(
            request, f"Nothing moved now: this movement was already recorded {what} ({journal}); balance {balance}."
        )
        return
    if data["kind"] == "return":
        moved = "Returned the withdrawal"
    else:
        verb = {"deposit": "Deposited", "withdraw": "Withdrew", "adjust": "Adjusted by"}[data["kind"]]
        moved = f"{verb} {wallet.currency.format(data['amount'])}"
    messages.success(request, f"Done: {moved} ({journal}); balance {balance}.")


@admin.register(RollbackTombstone)
class RollbackTombstoneAdmin(ReadOnlyAdmin):
    list_display = ("provider_code", "transaction_id", "rollback_transaction_id", "player_id_text", "created_at")
    search_fields = ("=transaction_id", "=player_id_text")
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (an OR of the two columns) read every tombstone.
        return tombstone_search(queryset, search_term), False


class WithdrawalReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve: the payout may be sent"), ("reject", "Reject: the money goes back")],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        max_length=200, widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept with the decision and in the ledger."
    )


class BulkDecisionForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with each decision and in the ledger.",
    )


# A page of decisions is one request, one transaction per withdrawal; more than this is
# better done in several pages than in one request a proxy may time out.
BULK_DECISION_LIMIT = 500


class WithdrawalEventInline(ReadOnlyInline):
    """This withdrawal's events for the payment system: sent to CASHIER_WEBHOOK_URL, or left to the feed."""

    model = WithdrawalEvent
    fields = ("event_link", "status", "delivery", "attempts", "last_http_status", "created_at", "delivered_at")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = "Events for the payment system (webhook and feed)"

    @admin.display(description="Event")
    def event_link(self, obj: WithdrawalEvent) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:wallet_withdrawalevent_change", args=[obj.pk]), obj.pk)


class OneWalletFilter(admin.SimpleListFilter):
    """One wallet's rows by their wallet key (the player page's "Withdrawals" and "Monitoring
    alerts" links), where a search by the player's id compared the joined player's column
    and read every row. Listed only while in use, as whose wallet it is: the page says what
    it shows, and "All" undoes it."""

    title = "wallet"
    parameter_name = "wallet"

    def lookups(self, request, model_admin):
        value = self.value()
        if value is None:
            return []
        wallet_id = bigint_or_none(value)
        if wallet_id is None:
            raise IncorrectLookupParameters(f"wallet={value!r}")
        wallet = Wallet.objects.select_related("player").filter(pk=wallet_id).first()
        if wallet is None:
            # With no choice listed Django drops the filter, and the page showed every row.
            raise IncorrectLookupParameters(f"no wallet {value}")
        return [(value, f"{wallet.player.player_id}, {wallet.currency_id}")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(wallet_id=int(value))


class WalletQueueAdmin(ReadOnlyAdmin):
    """A queue staff work of rows on a wallet (withdrawals, staff movements, monitoring alerts):
    its `queue` filter's open rows oldest first, each with its player and its amount in the
    wallet's currency."""

    queue: type[PendingFirst] = PendingFirst
    # "All" of a queue is every row ever asked for: no count(*) of them on each page.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Each queue's page where staff decide one row, at <id>/review/ (get_urls).
    review_view: Callable[[HttpRequest, int], HttpResponse]

    def get_ordering(self, request):
        return self.queue.ordering(request)

    def get_queryset(self, request):
        # Each row says whether this member of staff may open its review page, whose link is
        # shown only then: one that sends them back ("You may not…") is no link.
        return super().get_queryset(request).annotate(may_review=self.may_review(request))

    def may_review(self, request) -> Expression:
        return Value(True)

    @admin.display(description="Player", ordering="wallet__player__player_id")
    def player(self, obj: Any) -> str:
        return obj.wallet.player.player_id

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: Any) -> str:
        return obj.wallet.currency.format(obj.amount)

    def bulk_selection(self, request, queryset, *order: str) -> list[Any] | None:
        """The rows a bulk action was asked for, in `order`, with their wallets; None, with a
        message, when they are more than one request should decide."""
        selected = list(
            queryset.select_related("wallet__player", "wallet__currency").order_by(*order)[: BULK_DECISION_LIMIT + 1]
        )
        if len(selected) > BULK_DECISION_LIMIT:
            noun = self.model._meta.verbose_name_plural
            messages.error(request, f"Select at most {BULK_DECISION_LIMIT} {noun} at a time.")
            return None
        return selected

    def bulk_confirm(
        self,
        request,
        queryset,
        *,
        action: str,
        order: tuple[str, ...],
        form_class: type[forms.Form],
        decide: Callable[[list[Any], dict[str, Any]], None],
        nothing: str,
        template: str,
        page: Callable[[list[Any]], dict[str, Any]],
    ):
        """A bulk decision's two steps: a confirmation page (`template`, with `page`'s context
        for the pending rows) whose form asks for the reason; then `decide` with every row
        selected, each decided on its own, and back to the queue. The page posts only the rows
        it showed as pending: one that is not any more was decided by someone else meanwhile,
        and `decide` names it."""
        selected = self.bulk_selection(request, queryset, *order)
        if selected is None:
            return None
        pending = [row for row in selected if row.status == self.model.Status.PENDING]
        form = form_class(request.POST if "confirm" in request.POST else None)
        opts = self.model._meta
        changelist = f"admin:{opts.app_label}_{opts.model_name}_changelist"
        if form.is_bound and form.is_valid():
            decide(selected, form.cleaned_data)
            return redirect(changelist)  # the queue, not the list posted to
        if not pending:
            messages.warning(request, nothing)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "form": form,
            "action": action,
            "ids": [row.pk for row in pending],
            "not_pending": [row for row in selected if row.status != self.model.Status.PENDING],
            "changelist_url": reverse(changelist),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            **page(pending),
        }
        return render(request, template, context)

    def get_urls(self):
        opts = self.model._meta
        review = self.admin_site.admin_view(self.review_view)
        name = f"{opts.app_label}_{opts.model_name}_review"
        return [path("<int:object_id>/review/", review, name=name), *super().get_urls()]


@admin.register(Withdrawal)
class WithdrawalAdmin(WalletQueueAdmin):
    list_display = (
        "reference",
        "player",
        "amount_display",
        "status",
        "review_reason",
        "kyc",
        "requested_at",
        "decided_by",
        "review_link",
    )
    list_filter = (PendingFirst, "wallet__currency", "wallet__player__kyc_status", OneWalletFilter)
    search_fields = ("=reference", "=wallet__player__player_id")
    list_select_related = ("wallet__player", "wallet__currency")
    fields = (
        "reference",
        "wallet",
        "amount_display",
        "status",
        "review_reason",
        "requested_by",
        "requested_at",
        "request_journal",
        "decided_by",
        "decided_at",
        "decision_memo",
        "returned",
        "approval_journal",
        "reversal_journal",
    )
    readonly_fields = fields
    inlines = [WithdrawalEventInline]
    actions = ["approve_selected", "reject_selected"]

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("wallet.review_withdrawal")

    def may_review(self, request) -> Expression:
        return Value(self.has_review_permission(request))

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (reference = term OR the joined player's id =
        # term) read every withdrawal.
        return withdrawal_search(queryset, search_term), False

    @admin.action(description="Approve selected withdrawals…", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._decide_selected(request, queryset, "approve")

    @admin.action(description="Reject selected withdrawals…", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._decide_selected(request, queryset, "reject")

    def _decide_selected(self, request, queryset, decision: str):
        """A confirmation page with what was selected and a reason; then each pending one is
        decided as on its review page, in its own transaction, and staff are told what was
        decided and what was not (decided meanwhile, identity not verified)."""
        return self.bulk_confirm(
            request,
            queryset,
            action=f"{decision}_selected",
            order=("requested_at", "id"),
            form_class=BulkDecisionForm,
            decide=lambda selected, data: self._message_decisions(request, selected, decision, data["reason"]),
            nothing="None of the selected withdrawals is pending: nothing to decide.",
            template="admin/wallet/withdrawal_bulk_decision.html",
            page=lambda pending: {
                "title": f"{decision.capitalize()} {len(pending)} withdrawal(s)",
                "submit": f"{decision.capitalize()} {len(pending)} withdrawal(s)",
                "decision": decision,
                "rows": [
                    {
                        "withdrawal": w,
                        "amount": w.wallet.currency.format(w.amount),
                        "kyc_blocks_approval": decision == "approve" and not player_may_be_paid(player=w.wallet.player),
                        "blocked": w.wallet.player.status == Player.Status.BLOCKED,
                    }
                    for w in pending
                ],
                "totals": _totals(pending),
            },
        )

    def _message_decisions(self, request, selected: list[Withdrawal], decision: str, reason: str) -> None:
        decide = withdrawal_approve if decision == "approve" else withdrawal_reject
        staff = f"staff:{request.user.get_username()}"
        decided: list[Withdrawal] = []
        refused: list[str] = []
        for withdrawal in selected:
            if withdrawal.status != Withdrawal.Status.PENDING:
                refused.append(f"{withdrawal.reference} (now {withdrawal.status})")
                continue
            try:
                result = decide(reference=withdrawal.reference, staff=staff, reason=reason)
            except WithdrawalNotAllowed as exc:  # decided otherwise meanwhile
                refused.append(f"{withdrawal.reference} (now {exc.details['status']})")
            except DomainError as exc:
                refused.append(f"{withdrawal.reference} ({exc.code})")
            except DatabaseError:
                # A deadlock or a lost connection on one row: each decision is its own
                # transaction, so those before it stand and staff are told which to try again.
                logger.exception("bulk %s of withdrawal %s failed", decision, withdrawal.reference)
                refused.append(f"{withdrawal.reference} (a database error: try it again)")
            else:
                if result.replayed:  # decided the same way meanwhile, by someone else
                    refused.append(f"{withdrawal.reference} (now {result.status})")
                else:
                    decided.append(withdrawal)
        done = "approved" if decision == "approve" else "rejected"
        if decided:
            total = ", ".join(_totals(decided))
            messages.success(request, f"{len(decided)} withdrawal(s) {done} ({total}).")
        if refused:
            messages.error(request, f"{len(refused)} not {done}: {', '.join(refused)}.")

    @admin.display(description="Returned")
    def returned(self, obj: Withdrawal) -> str:
        # "Decided by" is who approved a returned payout; who returned it, when and why is its
        # reversal's, shown here rather than one link away.
        if obj.status != Withdrawal.Status.RETURNED or obj.reversal_journal is None:
            return "-"
        journal = obj.reversal_journal
        memo = f": {journal.memo}" if journal.memo else ""
        return f"by {journal.created_by} at {journal.created_at:%Y-%m-%d %H:%M:%S} UTC{memo}"

    @admin.display(description="KYC", ordering="wallet__player__kyc_status")
    def kyc(self, obj: Withdrawal) -> str:
        # What approval will ask: a player who is not verified is not paid.
        return obj.wallet.player.get_kyc_status_display()

    @admin.display(description="")
    def review_link(self, obj: Withdrawal) -> str:
        if obj.status != Withdrawal.Status.PENDING or not obj.may_review:  # type: ignore[attr-defined]
            return ""
        return format_html('<a href="{}">Review…</a>', reverse("admin:wallet_withdrawal_review", args=[obj.pk]))

    def review_view(self, request, object_id: int):
        withdrawal = get_object_or_404(
            Withdrawal.objects.select_related("wallet__player", "wallet__currency"), pk=object_id
        )
        if not request.user.has_perm("wallet.review_withdrawal"):
            messages.error(request, "You may not approve or reject withdrawals.")
            return redirect("admin:wallet_withdrawal_changelist")
        form = WithdrawalReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            decide = withdrawal_approve if form.cleaned_data["decision"] == "approve" else withdrawal_reject
            try:
                result = decide(
                    reference=withdrawal.reference,
                    staff=f"staff:{request.user.get_username()}",
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
            else:
                if result.replayed:  # a colleague decided it the same way meanwhile
                    fresh = Withdrawal.objects.get(pk=withdrawal.pk)
                    messages.warning(
                        request,
                        f"Withdrawal {withdrawal.reference} was already {result.status} by {fresh.decided_by}: "
                        "nothing more was moved.",
                    )
                    return redirect("admin:wallet_withdrawal_changelist")
                currency = withdrawal.wallet.currency
                messages.success(
                    request,
                    f"Withdrawal {withdrawal.reference} {result.status} (ledger transaction "
                    f"{result.platform_transaction_id}); the player's balance is {currency.format(result.balance)}.",
                )
                return redirect("admin:wallet_withdrawal_changelist")
        wallet = withdrawal.wallet
        since = withdrawal.requested_at - ACTIVITY_LOOKBACK
        activity = wallet_activity(wallet=wallet, since=since)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "withdrawal": withdrawal,
            "lookback_days": ACTIVITY_LOOKBACK.days,
            "activity": {name: wallet.currency.format(amount) for name, amount in activity.items()},
            "amount": wallet.currency.format(withdrawal.amount),
            "balance": wallet.currency.format(wallet.balance),
            "player_url": reverse("admin:players_player_change", args=[wallet.player_id]),
            "kyc_blocks_approval": not player_may_be_paid(player=wallet.player),
            "title": f"Review withdrawal {withdrawal.reference}",
            "opts": self.model._meta,
        }
        return render(request, "admin/wallet/withdrawal_review.html", context)


def _totals(withdrawals: list[Withdrawal]) -> list[str]:
    """The sum per currency, each in the currency's format, in currency order."""
    sums: dict[str, int] = {}
    currencies = {}
    for w in withdrawals:
        sums[w.wallet.currency_id] = sums.get(w.wallet.currency_id, 0) + w.amount
        currencies[w.wallet.currency_id] = w.wallet.currency
    return [currencies[code].format(sums[code]) for code in sorted(sums)]


class FlaggedEventFilter(FlaggedFilter):
    """A flagged event is one still undelivered (delivery and "Stop sending" both clear the
    flag): said so, the filter goes along the undelivered events' index instead of reading
    every event."""

    def queryset(self, request: Any, queryset: Any) -> Any:
        flagged = super().queryset(request, queryset)
        return flagged.filter(delivery__in=UNDELIVERED) if self.value() == "yes" else flagged


# Staff's "Send now" and "Stop sending" lock and update this many events per transaction:
# "select all" over a receiver gone for good is one request, not one statement with a bound
# parameter per event (PostgreSQL takes at most 65,535) nor one long lock on all of them.
EVENT_ACTION_BATCH = 1_000


@admin.register(WithdrawalEvent)
class WithdrawalEventAdmin(ActionOnlyAdmin):
    """The withdrawal events: what was sent to the payment system, what is still trying and
    why, and what was left to the feed. Written only by the services; staff can only send
    events (again), or stop sending them."""

    list_display = (
        "id",
        "reference",
        "status",
        "delivery",
        "attempts",
        "last_http_status",
        "next_attempt_at",
        "flagged_at",
        "created_at",
        "delivered_at",
    )
    list_filter = (FlaggedEventFilter, "delivery", "status")
    search_fields = ("=withdrawal__reference", "=withdrawal__wallet__player__player_id")
    # Several events per withdrawal: no count(*) of them all on each page.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_select_related = ("withdrawal",)
    fields = (
        "withdrawal",
        "status",
        "body",
        "delivery",
        "attempts",
        "next_attempt_at",
        "lease_until",
        "last_http_status",
        "last_error",
        "created_at",
        "delivered_at",
        "flagged_at",
    )
    readonly_fields = fields
    actions = ["send_now", "stop_sending"]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (an OR over the joined withdrawal and player)
        # read every event.
        return withdrawal_event_search(queryset, search_term), False

    @admin.display(description="Withdrawal", ordering="withdrawal__reference")
    def reference(self, obj: WithdrawalEvent) -> str:
        return obj.withdrawal.reference

    @admin.display(description="Body as sent")
    def body(self, obj: WithdrawalEvent) -> str:
        return format_html("<pre>{}</pre>", withdrawal_event_body(obj).decode())

    @admin.action(description="Send now (delivered and not sent ones too)", permissions=["change"])
    def send_now(self, request, queryset):
        try:
            selected, ids = self._in_batches(request, queryset, withdrawal_events_send_now, "Sent now by staff.")
        except DomainError as exc:  # WEBHOOK_NOT_SET
            messages.error(request, exc.message)
            return
        skipped = selected - len(ids)
        note = f"; {skipped} being sent right now left alone" if skipped else ""
        messages.success(request, f"Queued {len(ids)} event(s) to be sent now{note}.")

    @admin.action(description="Stop sending (leave them to the feed)", permissions=["change"])
    def stop_sending(self, request, queryset):
        selected, ids = self._in_batches(
            request, queryset, withdrawal_events_stop_sending, "Stopped sending by staff: left to the feed."
        )
        skipped = selected - len(ids)
        note = f"; {skipped} delivered, already unsent or being sent right now left alone" if skipped else ""
        messages.success(request, f"Stopped sending {len(ids)} event(s): the feed still gives them{note}.")

    def _in_batches(self, request, queryset, action: Callable[..., list[int]], what: str) -> tuple[int, list[int]]:
        """`action` on the selected events, EVENT_ACTION_BATCH at a time, each batch it changed
        in the admin's history under the member of staff (who silenced a payout decision's
        delivery is asked later); how many were selected, and the ids changed."""
        selected = list(queryset.order_by("pk").values_list("pk", flat=True))
        changed: list[int] = []
        for start in range(0, len(selected), EVENT_ACTION_BATCH):
            ids = action(ids=selected[start : start + EVENT_ACTION_BATCH])
            if ids:
                LogEntry.objects.log_actions(
                    user_id=request.user.pk,
                    queryset=WithdrawalEvent.objects.filter(pk__in=ids),
                    action_flag=CHANGE,
                    change_message=what,
                )
            changed += ids
        return len(selected), changed


class StaffMovementReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve: the money moves"), ("reject", "Reject: nothing moves")],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        max_length=200, widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept with the decision."
    )


class StaffMovementQueue(PendingFirst):
    # One whose approval did not finish waits for staff too: approving it again finishes it.
    OPEN = (StaffMovement.Status.PENDING, StaffMovement.Status.APPROVING)


@admin.register(StaffMovement)
class StaffMovementAdmin(WalletQueueAdmin):
    """Money movements staff entered over their currency's "second approval" threshold: the
    queue a second member of staff works (permission "Can approve or reject staff money
    movements")."""

    list_display = (
        "id",
        "player",
        "kind",
        "amount_display",
        "status",
        "held_because",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "review_link",
    )
    queue = StaffMovementQueue
    list_filter = (StaffMovementQueue, "kind", "held_because", "wallet__currency")
    search_fields = ("=wallet__player__player_id", "=reference", "=requested_by")
    list_select_related = ("wallet__player", "wallet__currency")

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (an OR of the row's columns and the joined
        # player's id) read every movement.
        return staff_movement_search(queryset, search_term), False

    fields = (
        "wallet",
        "kind",
        "amount_display",
        "reference",
        "reason",
        "requested_by",
        "requested_at",
        "held_because",
        "status",
        "decided_by",
        "decided_at",
        "decision_memo",
        "journal",
        "review_link",
    )
    readonly_fields = fields

    @admin.display(description="")
    def review_link(self, obj: StaffMovement) -> str:
        if obj.status not in (StaffMovement.Status.PENDING, StaffMovement.Status.APPROVING) or not obj.may_review:  # type: ignore[attr-defined]
            return ""
        return format_html('<a href="{}">Review…</a>', reverse("admin:wallet_staffmovement_review", args=[obj.pk]))

    def may_review(self, request) -> Expression:
        # A requester may open their own to see it or take it back (review_view).
        own = When(requested_by=f"staff:{request.user.get_username()}", then=Value(True))
        return Case(own, default=Value(request.user.has_perm("wallet.approve_staffmovement")))

    def review_view(self, request, object_id: int):
        movement = get_object_or_404(
            StaffMovement.objects.select_related("wallet__player", "wallet__currency"), pk=object_id
        )
        staff = f"staff:{request.user.get_username()}"
        if not request.user.has_perm("wallet.approve_staffmovement") and staff != movement.requested_by:
            messages.error(request, "You may not approve or reject staff money movements.")
            return redirect("admin:wallet_staffmovement_changelist")
        form = StaffMovementReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            approve = form.cleaned_data["decision"] == "approve"
            try:
                if approve and not request.user.has_perm("wallet.approve_staffmovement"):
                    messages.error(request, "You may not approve staff money movements.")
                    return redirect("admin:wallet_staffmovement_changelist")
                if approve:
                    result = staff_movement_approve(
                        movement_id=movement.pk, staff=staff, reason=form.cleaned_data["reason"]
                    )
                    balance = movement.wallet.currency.format(result.balance)
                    moved = "already moved" if result.replayed else "moved"
                    done = f"approved: {moved} (ledger transaction {result.platform_transaction_id}); balance {balance}"
                else:
                    staff_movement_reject(movement_id=movement.pk, staff=staff, reason=form.cleaned_data["reason"])
                    done = "rejected: nothing moved"
            except DomainError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
                movement.refresh_from_db()  # a refusal closed it, or a colleague decided it
            else:
                messages.success(request, f"Staff movement {movement.pk} {done}.")
                return redirect("admin:wallet_staffmovement_changelist")
        wallet = movement.wallet
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "movement": movement,
            "amount": wallet.currency.format(movement.amount),
            "balance": wallet.currency.format(wallet.balance),
            "player_url": reverse("admin:players_player_change", args=[wallet.player_id]),
            # Who is paid, as they stand now: the request may be days old.
            "player": wallet.player,
            "player_may_be_paid": player_may_be_paid(player=wallet.player),
            "payout": movement.kind == StaffMovement.Kind.WITHDRAW and is_payment_reference(movement.reference),
            "own": staff == movement.requested_by,
            "open": movement.status in (StaffMovement.Status.PENDING, StaffMovement.Status.APPROVING),
            "title": f"Review staff movement {movement.pk}",
            "opts": self.model._meta,
        }
        return render(request, "admin/wallet/staffmovement_review.html", context)


@admin.register(StaffDayTotal)
class StaffDayTotalAdmin(ReadOnlyAdmin):
    """What each member of staff moved alone on "Move money…" per currency and UTC day, held
    against the currency's "Staff may move alone per day"; movements approved by a second
    member of staff are not in it."""

    list_display = ("day", "staff", "currency", "moved_display", "allowance_display")
    list_filter = ("currency", "day")
    search_fields = ("=staff",)
    list_select_related = ("currency",)
    date_hierarchy = "day"
    fields = ("day", "staff", "currency", "moved_display", "allowance_display")
    readonly_fields = fields

    @admin.display(description="Moved alone", ordering="moved")
    def moved_display(self, obj: StaffDayTotal) -> str:
        return obj.currency.format(obj.moved)

    @admin.display(description="Allowance now")
    def allowance_display(self, obj: StaffDayTotal) -> str:
        allowance = obj.currency.staff_daily_allowance
        return "none" if allowance is None else obj.currency.format(allowance)


class MonitoringAlertReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("clear", "Clear: nothing suspicious"),
            ("report", "Report: a suspicious activity report has been filed"),
        ],
        widget=forms.RadioSelect,
    )
    memo = forms.CharField(
        label="Reason",
        max_length=MonitoringAlert._meta.get_field("decision_memo").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What you looked at and what you found; kept with the decision.",
    )
    report_reference = forms.CharField(
        label="Report reference",
        required=False,
        max_length=MonitoringAlert._meta.get_field("report_reference").max_length,
        help_text="When reporting: the reference the authority gave the report.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        reporting = cleaned.get("decision") == "report"
        if reporting and not cleaned.get("report_reference", "").strip():
            self.add_error("report_reference", "A report needs the reference the authority gave it.")
        if not reporting and cleaned.get("report_reference", "").strip():
            self.add_error("report_reference", "Leave it empty when clearing: a cleared alert has no report.")
        return cleaned


class BulkClearForm(forms.Form):
    memo = forms.CharField(
        label="Reason",
        max_length=MonitoringAlert._meta.get_field("decision_memo").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What you looked at and what you found; kept with each alert's decision.",
    )


class MonitoringAlertQueue(PendingFirst):
    WAITING_SINCE = "occurred_at"


class MonitoringAlertPage(forms.ModelForm):
    """An alert's page, every field of it read-only (MonitoringAlertAdmin.fields)."""

    class Meta:
        model = MonitoringAlert
        fields = ()
        # The page shows these in the wallet's currency (the admin's *_display), and still
        # says what each is.
        help_texts = {
            "total_display": MonitoringAlert._meta.get_field("total").help_text,
            "wagered_display": MonitoringAlert._meta.get_field("wagered").help_text,
            "threshold_display": MonitoringAlert._meta.get_field("threshold").help_text,
        }


@admin.register(MonitoringAlert)
class MonitoringAlertAdmin(WalletQueueAdmin):
    """Movements the currencies' anti-money-laundering rules ("flag wins above", "flag deposits
    in 24 hours above") list for staff: the queue those with "Can clear or report monitoring
    alerts" work, oldest first."""

    list_display = (
        "id",
        "occurred_at",
        "player",
        "rule",
        "amount_display",
        "total_display",
        "threshold_display",
        "status",
        "decided_by",
        "review_link",
    )
    queue = MonitoringAlertQueue
    list_filter = (MonitoringAlertQueue, "rule", "wallet__currency", OneWalletFilter)
    search_fields = ("=wallet__player__player_id", "=journal__id", "=report_reference")
    list_select_related = ("wallet__player", "wallet__currency")
    form = MonitoringAlertPage
    fields = (
        "rule",
        "wallet",
        "journal",
        "amount_display",
        "total_display",
        "wagered_display",
        "threshold_display",
        "occurred_at",
        "raised_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_memo",
        "report_reference",
        "review_link",
    )
    readonly_fields = fields
    date_hierarchy = "occurred_at"
    actions = ["clear_selected", "export_csv"]

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("wallet.review_monitoringalert")

    def get_search_results(self, request, queryset, search_term):
        # By their indexes; Django's own search (an OR of the row's columns and the joined
        # player's id) read every alert.
        return monitoring_alert_search(queryset, search_term), False

    @admin.action(description="Clear selected alerts…", permissions=["review"])
    def clear_selected(self, request, queryset):
        """A confirmation page with the pending alerts selected and one reason; then each is
        cleared as on its review page, once, under its lock. Reporting stays one alert at a
        time: each report has its own reference."""
        return self.bulk_confirm(
            request,
            queryset,
            action="clear_selected",
            order=("occurred_at", "id"),
            form_class=BulkClearForm,
            decide=lambda selected, data: self._message_cleared(request, selected, data["memo"]),
            nothing="None of the selected alerts is waiting for review: nothing to clear.",
            template="admin/wallet/monitoringalert_bulk_clear.html",
            page=lambda pending: {
                "title": f"Clear {len(pending)} monitoring alert(s)",
                "submit": f"Clear {len(pending)} alert(s)",
                "rows": [
                    {
                        "alert": alert,
                        "amount": alert.wallet.currency.format(alert.amount),
                        "figure": _alert_figure(alert),
                    }
                    for alert in pending
                ],
            },
        )

    def _message_cleared(self, request, selected: list[MonitoringAlert], memo: str) -> None:
        staff = f"staff:{request.user.get_username()}"
        cleared = 0
        refused: list[str] = []
        for alert in selected:
            if alert.status != MonitoringAlert.Status.PENDING:
                refused.append(f"{alert.pk} (now {alert.status})")
                continue
            try:
                monitoring_alert_decide(alert_id=alert.pk, staff=staff, decision="clear", memo=memo)
            except DomainError as exc:  # decided by a colleague meanwhile
                refused.append(f"{alert.pk} (now {exc.details.get('status') or exc.code})")
            else:
                cleared += 1
        if cleared:
            messages.success(request, f"{cleared} monitoring alert(s) cleared.")
        if refused:
            messages.error(request, f"{len(refused)} not cleared: {', '.join(refused)}.")

    @admin.action(description="Export selected alerts as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected alerts (all those filtered, with "select all") and their decisions, for
        the money laundering reporting officer's records; streamed, as the ledger's reports."""
        lines = table_lines(
            monitoring_alert_lines(queryset), columns=MONITORING_ALERT_COLUMNS, money=MONITORING_ALERT_MONEY
        )
        response = StreamingHttpResponse(in_chunks(csv_lines(lines)), content_type="text/csv; charset=utf-8")
        filename = f"monitoring-alerts_{clock.now():%Y-%m-%dT%H-%M-%SZ}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.display(description="Round's wins or deposits (24 hours, 30 days)")
    def total_display(self, obj: MonitoringAlert) -> str:
        return "" if obj.total is None else obj.wallet.currency.format(obj.total)

    @admin.display(description="Wagered (30 days)")
    def wagered_display(self, obj: MonitoringAlert) -> str:
        return "" if obj.wagered is None else obj.wallet.currency.format(obj.wagered)

    @admin.display(description="Figure")
    def threshold_display(self, obj: MonitoringAlert) -> str:
        return _alert_figure(obj)

    @admin.display(description="")
    def review_link(self, obj: MonitoringAlert) -> str:
        url = reverse("admin:wallet_monitoringalert_review", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, "Review…" if obj.status == obj.Status.PENDING else "Details")

    def review_view(self, request, object_id: int):
        alert = get_object_or_404(
            MonitoringAlert.objects.select_related("wallet__player", "wallet__currency", "journal"), pk=object_id
        )
        may_decide = request.user.has_perm("wallet.review_monitoringalert")
        if not (may_decide or self.has_view_permission(request, alert)):
            # What was reported, and to whom, is not for every member of staff (tipping off).
            raise PermissionDenied
        form = MonitoringAlertReviewForm(request.POST or None)
        if request.method == "POST":
            if not may_decide:
                messages.error(request, "You may not clear or report monitoring alerts.")
                return redirect("admin:wallet_monitoringalert_changelist")
            if form.is_valid():
                try:
                    alert = monitoring_alert_decide(
                        alert_id=alert.pk,
                        staff=f"staff:{request.user.get_username()}",
                        decision=form.cleaned_data["decision"],
                        memo=form.cleaned_data["memo"],
                        report_reference=form.cleaned_data["report_reference"],
                    )
                except DomainError as exc:
                    messages.error(request, f"{exc.code}: {exc.message}")
                    alert.refresh_from_db()  # a colleague decided it meanwhile
                else:
                    messages.success(request, f"Monitoring alert {alert.pk} {alert.status}.")
                    return redirect("admin:wallet_monitoringalert_changelist")
        wallet = alert.wallet
        currency = wallet.currency
        activity = wallet_activity(wallet=wallet, since=alert.occurred_at - ACTIVITY_LOOKBACK)
        deposits = []
        if alert.rule == MonitoringAlert.Rule.DEPOSITS_24H:
            deposits = [
                {"entry": entry, "amount": currency.format(entry.amount)}
                for entry in monitoring_alert_deposits(alert=alert)
            ]
        round_url = None
        if alert.rule == MonitoringAlert.Rule.LARGE_WIN:
            # The round's page lists its bets and wins (sessions' Round admin).
            game_round = Round.objects.filter(
                provider__code=alert.journal.provider_code, round_id=alert.journal.round_id
            ).first()
            if game_round is not None and request.user.has_perm("game_sessions.view_round"):
                round_url = reverse("admin:game_sessions_round_change", args=[game_round.pk])
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "alert": alert,
            "may_decide": may_decide,
            "amount": currency.format(alert.amount),
            "total": None if alert.total is None else currency.format(alert.total),
            "wagered": None if alert.wagered is None else currency.format(alert.wagered),
            "threshold": _alert_figure(alert),
            "balance": currency.format(wallet.balance),
            "deposits": deposits,
            "round_link": format_html(
                '<a href="{}">round {}</a>' if round_url else "round {1}", round_url, alert.journal.round_id
            ),
            "lookback_days": ACTIVITY_LOOKBACK.days,
            "activity": {name: currency.format(amount) for name, amount in activity.items()},
            "player_url": reverse("admin:players_player_change", args=[wallet.player_id]),
            "journal_url": reverse("admin:ledger_journaltransaction_change", args=[alert.journal_id]),
            "title": f"Review monitoring alert {alert.pk}",
            "opts": self.model._meta,
        }
        return render(request, "admin/wallet/monitoringalert_review.html", context)


def _alert_figure(alert: MonitoringAlert) -> str:
    """The currency's figure the alert was raised against, as staff read it."""
    if alert.rule == MonitoringAlert.Rule.LOW_PLAY_WITHDRAWAL:
        return f"wagered under {alert.threshold}% of deposits"
    return f"over {alert.wallet.currency.format(alert.threshold)}"
