"""Read-only back office over the journal: the ledger is append-only, here too. Finance's
reports are downloaded from the journal's Reports page."""

from collections.abc import Iterator

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import path

from casino_platform import clock
from casino_platform.admin import (
    BookedWhenFilter,
    EstimatedCountPaginator,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SettingsAuditAdmin,
    choices_filter,
    indexed_values_filter,
)
from casino_platform.errors import answer_statuses

from .exports import REPORTS, SETTLING_MARGIN, Period, in_chunks, report_csv, report_filename, report_snapshot
from .forms import MinorUnitsField
from .models import (
    Account,
    Currency,
    Entry,
    ExportRecord,
    IdempotencyRecord,
    JournalTransaction,
    ReconcileRun,
    SettingChange,
)
from .selectors import entry_search, entry_search_journal_number, idempotency_record_search, journal_search
from .services import export_record_finish, export_record_start
from .settings_audit import AUDITED_SETTINGS


class LedgerReportForm(forms.Form):
    report = forms.ChoiceField(choices=[(r.name, r.title) for r in REPORTS.values()])
    since = forms.DateField(label="From", help_text="First day, inclusive (UTC).")
    until = forms.DateField(label="Until", help_text="Day after the last, exclusive (UTC).")
    currency = forms.ModelChoiceField(
        Currency.objects.all(), required=False, empty_label="All currencies", to_field_name="code"
    )

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("since") and cleaned.get("until"):
            try:
                cleaned["period"] = Period.of_days(cleaned["since"], cleaned["until"])
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


@admin.register(Currency)
class CurrencyAdmin(SettingsAuditAdmin):
    # Every setting of a currency is audited: the list shows them all, in the trail's order.
    list_display = ("code", *AUDITED_SETTINGS["ledger.currency"][1])
    list_editable = ("is_enabled",)
    # Its thresholds are minor units, typed whole: "500.00" is refused, not read as 500.
    formfield_overrides = {models.BigIntegerField: {"form_class": MinorUnitsField}}

    def get_readonly_fields(self, request, obj=None):
        # Amounts are stored in minor units of the exponent they were booked with.
        return ("code", "exponent") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False


class EntryInline(ReadOnlyInline):
    model = Entry
    fields = ("leg", "account", "amount_display", "created_at")
    readonly_fields = fields
    ordering = ("leg",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account", "currency")

    @admin.display(description="Amount")
    def amount_display(self, obj: Entry) -> str:
        # As the entries' list shows it: 10.50 EUR, not 1050 beside EUR.
        return obj.currency.format(obj.amount)


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "provider_code",
        "provider_transaction_id",
        "round_id",
        "reason",
        "trace_id",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", indexed_values_filter("provider_code", "provider code"), BookedWhenFilter)
    # The search box; journal_search decides what each term is matched against.
    search_fields = ("=provider_transaction_id", "=round_id", "=id")
    search_help_text = (
        "A provider transaction id, a round id or a journal number; trace:<id> for a trace id "
        "(that one reads the whole journal)."
    )
    inlines = [EntryInline]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        # Django's search ORs every field: trace_id and round_id alone have no index, so it read
        # the whole journal (13 ms over 64k rows; seconds on a production ledger).
        return journal_search(queryset, search_term), False

    def get_urls(self):
        return [
            path("reports/", self.admin_site.admin_view(self.reports_view), name="ledger_reports"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_export_reports": request.user.has_perm("ledger.export_reports")}
        return super().changelist_view(request, extra_context)

    def reports_view(self, request):
        """A form, and with a valid one (GET, so a report's address can be bookmarked), the CSV,
        streamed: the journal's export may be millions of rows."""
        if not request.user.has_perm("ledger.export_reports"):
            raise PermissionDenied
        yesterday = Period.of_days()
        form = LedgerReportForm(
            request.GET or None, initial={"since": yesterday.since.date(), "until": yesterday.until.date()}
        )
        if form.is_valid():
            report = REPORTS[form.cleaned_data["report"]]
            currency = form.cleaned_data["currency"].code if form.cleaned_data["currency"] else None
            period = form.cleaned_data["period"]
            # Downloaded too early, it is named for it: not filed as the final figures.
            provisional = not period.is_settled(now=clock.now())
            record = export_record_start(
                exported_by=f"staff:{request.user.get_username()}",
                report=report.name,
                since=period.since,
                until=period.until,
                currency=currency,
                provisional=provisional,
            )
            response = StreamingHttpResponse(
                _in_one_snapshot(report_csv(report, period=period, currency=currency), record_id=record.pk),
                content_type="text/csv; charset=utf-8",
            )
            filename = report_filename(report, period, currency, provisional=provisional)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "yesterday_final_from": None
            if yesterday.is_settled(now=clock.now())
            else f"{yesterday.until + SETTLING_MARGIN:%H:%M} UTC",
            "form": form,
            "title": "Ledger reports",
            "opts": self.model._meta,
        }
        return render(request, "admin/ledger/reports.html", context)


# A download whose reader stops reading holds its snapshot (and vacuum's horizon) no longer.
REPORT_DOWNLOAD_IDLE_TIMEOUT = "5min"


def _in_one_snapshot(lines: Iterator[str], *, record_id: int) -> Iterator[str]:
    """The download's rows read as the command reads them (report_snapshot), handed to the
    server in chunks of about 64 KB. Ended, and rolled back, when the response is closed,
    also by a client that went away; a client that stops reading for
    REPORT_DOWNLOAD_IDLE_TIMEOUT loses the download. Its export record gets its rows only
    once the last chunk is out."""
    rows = -1  # the header is not a row

    def counted() -> Iterator[str]:
        nonlocal rows
        for line in lines:
            rows += 1
            yield line

    with report_snapshot(idle_timeout=REPORT_DOWNLOAD_IDLE_TIMEOUT):
        yield from in_chunks(counted())
    export_record_finish(record_id=record_id, rows=rows)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("key", "kind", "currency", "created_at")
    list_filter = ("kind", "currency")
    # By its unique index: a "contains" read every account's key (one per wallet) per search.
    search_fields = ("=key",)
    search_help_text = "An account's key, exactly as written (wallet:p_demo_1:EUR)."
    # An account per wallet: no count(*) of them all, twice, on each page.
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "leg", "account", "amount_display", "created_at")
    list_filter = ("currency",)
    # The search box; entry_search decides what each term is matched against.
    search_fields = ("=transaction__id", "=account__key")
    search_help_text = "A journal number, or an account's key exactly as written (wallet:p_demo_1:EUR)."
    list_select_related = ("transaction", "account", "currency")
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: Entry) -> str:
        return obj.currency.format(obj.amount)

    def get_search_results(self, request, queryset, search_term):
        return entry_search(queryset, search_term), False

    def get_ordering(self, request):
        # One account's entries (a wallet's "Ledger entries" link, or a search by its key)
        # newest first along its (account, created_at) index, as the wallet's movements are
        # read; by id that index serves nothing, and a long history was read and sorted for
        # each page.
        term = request.GET.get(SEARCH_VAR, "").strip()
        if "account__id__exact" in request.GET or (term and entry_search_journal_number(term) is None):
            return ("-created_at", "-id")
        return super().get_ordering(request)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("scope", "key", "operation", "response_status", "created_at")
    list_filter = (
        indexed_values_filter("scope", "scope"),
        choices_filter("operation", "operation", lambda: JournalTransaction.Kind.choices),
        choices_filter("response_status", "response status", lambda: [(s, str(s)) for s in answer_statuses()]),
    )
    search_fields = ("=key",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        return idempotency_record_search(queryset, search_term), False


@admin.register(SettingChange)
class SettingChangeAdmin(ReadOnlyAdmin):
    """Who changed which operator setting (a currency's thresholds, a provider's access, a
    game, a partner casino, a switch, an API key), from what to what: kept like the journal."""

    list_display = ("changed_at", "setting", "object_key", "field", "old_value", "new_value", "changed_by", "reason")
    list_filter = ("setting", "field")
    search_fields = ("=object_key", "=changed_by")
    date_hierarchy = "changed_at"


@admin.register(ExportRecord)
class ExportRecordAdmin(ReadOnlyAdmin):
    """Who exported which report of what period, from the Reports page or the command."""

    list_display = ("exported_at", "exported_by", "report", "since", "until", "currency", "provisional", "rows")
    list_filter = (choices_filter("report", "report", lambda: [(r.name, r.name) for r in REPORTS.values()]),)
    search_fields = ("=exported_by",)
    search_help_text = "Who, exactly as recorded: staff:<username> or command:<name>."


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    """Each proof of the books (`reconcile`, hourly and by hand): when, how long, what it found.
    Its problems are in the run's output and the worker's log; /metrics has the last one."""

    list_display = ("finished_at", "problems", "duration_seconds", "accounts_checked", "rounds_checked", "all_rounds")
    list_filter = ("all_rounds",)
