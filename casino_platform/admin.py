"""Back-office building blocks shared by the apps' admins."""

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, auth, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import BadRequest, FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connection, models, router, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.functional import cached_property
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from casino_platform import clock
from casino_platform.db import values_along_index
from casino_platform.second_factor import staff_second_factor_reset
from casino_platform.validators import bigint_or_none
from ledger.settings_audit import setting_changes_record, setting_snapshot


def shown_on_the_page(form: Any, name: str) -> Any:
    """What the page showed of field `name` (show_hidden_initial), as the browser posted it
    back; None when the post carries no such copy (a script's)."""
    bound = form[name]
    return bound.field.hidden_widget().value_from_datadict(form.data, form.files, bound.html_initial_name)


def posts_what_it_showed(form: Any) -> bool:
    """Whether a bound form's post carries the page's hidden copies of what it showed (a
    browser's does; a script's may not)."""
    return form.is_bound and any(form.add_initial_prefix(name) in form.data for name in form.fields)


def showing_what_it_shows(form_class: Any) -> Any:
    """`form_class` with every field sending back, hidden, the value the page showed
    (show_hidden_initial): its changed_data are then what was changed on the page, not what
    differs from the row as stored when the post arrives."""

    class Form(form_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.is_bound and not posts_what_it_showed(self):
                return  # a script's post, without the copies: judged against the row as stored
            for field in self.fields.values():  # the form's own copies
                field.show_hidden_initial = True

    Form.__name__ = Form.__qualname__ = form_class.__name__
    return Form


class SettingsAuditAdmin(admin.ModelAdmin):
    """For operator settings (ledger.settings_audit.AUDITED_SETTINGS): each change saved here,
    on the change page or in the list, and each deletion, is recorded as SettingChange rows
    in the transaction the admin saves it in.

    A save writes only the fields changed on the page, judged against what the page showed
    (sent back hidden with the form), so that a change a colleague or a command made after the
    page was opened is kept: a key revoked, a provider disabled, a switch turned on, a
    threshold lowered. Saving the whole form, or judging against the row as stored when the
    post arrives, would put each untouched field back as the page showed it. A post without
    the hidden values (a script's) saves what it sends, as before."""

    # Fields a save of this admin sets itself (who changed it, when): written with each change.
    saved_with_every_change: tuple[str, ...] = ()

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return showing_what_it_shows(form) if obj is not None else form

    def get_changelist_form(self, request: Any, **kwargs: Any) -> Any:
        return showing_what_it_shows(super().get_changelist_form(request, **kwargs))

    def save_model(self, request: Any, obj: Any, form: Any, change: Any) -> None:
        before = setting_snapshot(obj) if change else None
        if change and posts_what_it_showed(form):
            columns = {f.name for f in obj._meta.concrete_fields}
            changed = [name for name in form.changed_data if name in columns]
            if changed:
                obj.save(update_fields=[*changed, *self.saved_with_every_change])
            kept = self.changed_meanwhile(form, changed)
            obj.refresh_from_db()  # as stored: the trail compares it with `before`
            if kept:
                messages.info(
                    request,
                    f"Kept what was changed after this page was opened: {', '.join(kept)}.",
                )
        else:
            super().save_model(request, obj, form, change)
        reason = self.reason(obj, form)
        setting_changes_record(obj=obj, before=before, changed_by=request.user.get_username(), reason=reason)

    @staticmethod
    def changed_meanwhile(form: Any, changed: list[str]) -> list[str]:
        """The fields this save left alone whose value as stored when the post arrived (the
        form's initial) is not what the page showed."""
        kept = []
        for name in form.fields:
            raw = shown_on_the_page(form, name)
            if name not in changed and raw is not None and form.fields[name].has_changed(form.initial.get(name), raw):
                kept.append(str(form.fields[name].label or name))
        return kept

    def delete_model(self, request: Any, obj: Any) -> None:
        before = setting_snapshot(obj, deleting=True)
        super().delete_model(request, obj)
        setting_changes_record(obj=obj, before=before, changed_by=request.user.get_username(), deleted=True)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        # Admin actions run outside a transaction: the deletions and their records are one.
        with transaction.atomic(using=router.db_for_write(self.model)):
            for obj in queryset:  # one by one, so that each deletion is recorded
                self.delete_model(request, obj)

    def reason(self, obj: Any, form: Any) -> str:
        """Why, where the setting itself carries a reason and this save gave one."""
        return ""


def _field_at(model: Any, path: str) -> Any:
    """The model field a lookup path like "wallet__player__player_id" ends at."""
    opts, field = model._meta, None
    for part in path.split("__"):
        field = opts.get_field(part)
        if field.is_relation:
            opts = field.related_model._meta
    return field


class ExactSearch:
    """Searches by whole ids as typed, each found by its index: a field written "=name" in
    search_fields must equal the term (a number field only a term of digits). Django's "="
    compares case-insensitively, UPPER(column) = UPPER(term), which no index serves: it read
    the whole table (every round, every entry, every idempotency key) per search. Other
    fields keep Django's "contains"."""

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for spec in self.get_search_fields(request):  # type: ignore[attr-defined]
            if not spec.startswith("="):
                match |= Q(**{f"{spec}__icontains": term})
            elif not isinstance(_field_at(queryset.model, spec[1:]), models.IntegerField):
                match |= Q(**{spec[1:]: term})
            elif (number := bigint_or_none(term)) is not None:
                match |= Q(**{spec[1:]: number})
        return (queryset.filter(match) if match else queryset.none()), False


# Headers django-axes stores with each sign-in attempt, in text columns.
_SIGN_IN_HEADERS = ("HTTP_USER_AGENT", "HTTP_ACCEPT")


def refuse_nul_in_admin_queries(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Middleware: a back-office query with a NUL in it (?q=%00, a filter's value) is a 400.
    PostgreSQL's text refuses NUL, so the list's query failed with a 500. So is one in the
    headers a sign-in attempt is recorded with: its record failed, and a wrong password
    sent with one was never counted towards the lockout."""

    def middleware(request: HttpRequest) -> Any:
        if request.path.startswith("/admin/"):
            # Every value of a repeated parameter: the list filters take them all.
            values = [v for _, vs in request.GET.lists() for v in vs]
            values += [request.META.get(header, "") for header in _SIGN_IN_HEADERS]
            if any("\x00" in v for v in values):
                raise BadRequest("A NUL character in the query or a header.")
        return get_response(request)

    return middleware


class EstimatedCountPaginator(Paginator):
    """Pages of a list counted without reading a large table (past EXACT_BELOW rows by
    PostgreSQL's estimate, kept by ANALYZE) on each load: an exact count(*) read the whole
    journal, or every idempotency key, for each page. Unfiltered, such a table is counted
    from that estimate. Filtered or searched, it is counted exactly only where the planner
    finds the rows by an index condition and expects fewer than EXACT_BELOW of them, and that
    count stops at EXACT_BELOW; otherwise the planner's estimate of the rows found is the
    count (the entries of a currency, which no index holds, were counted by reading every
    entry). A small table is counted exactly."""

    EXACT_BELOW = 100_000
    # An estimate is never below this: Django's change list shows a count up to a page as one
    # page without a LIMIT, and one up to list_max_show_all (200) with "Show all", so an
    # estimate of 40 for 100,000 stuck rounds would load them all.
    ESTIMATE_AT_LEAST = 201

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        query = getattr(queryset, "query", None)
        if query is None or connection.vendor != "postgresql" or query.is_empty():
            return super().count
        rows = self._table_rows(queryset.model._meta.db_table)
        if rows is None or rows < self.EXACT_BELOW:
            return super().count
        if not query.where:
            return rows
        return self._filtered_count(queryset.order_by().values("pk"))

    def _table_rows(self, table: str) -> int | None:
        """The table's rows as ANALYZE last counted them (negative: never counted)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
            row = cursor.fetchone()
        return None if row is None else int(row[0])

    def _filtered_count(self, rows: Any) -> int:
        explained = rows.explain(format="json")
        if not explained:
            # Django found that nothing can match (a search's empty IN list) and asked the
            # database nothing: an empty plan, which json.loads refused with a 500.
            return 0
        plan = json.loads(explained)[0]["Plan"]
        estimate = int(plan["Plan Rows"])
        if estimate >= self.EXACT_BELOW or not _found_by_index(plan, rows.model._meta.db_table):
            return max(estimate, self.ESTIMATE_AT_LEAST)
        counted = rows[: self.EXACT_BELOW].count()
        return counted if counted < self.EXACT_BELOW else max(counted, estimate)


def _found_by_index(plan: dict[str, Any], table: str) -> bool:
    """Whether every read of `table` in an EXPLAIN (FORMAT JSON) plan is by an index condition
    (a bitmap heap scan's recheck is one) and nothing more, rather than the table, or an index,
    read whole. A filter on top of the condition does not count: the month's journal found by
    time and filtered by kind reads every row of the month to count the few it keeps."""
    if plan.get("Relation Name") == table and (
        ("Index Cond" not in plan and "Recheck Cond" not in plan) or "Filter" in plan
    ):
        return False
    return all(_found_by_index(child, table) for child in plan.get("Plans", ()))


def index_led_fields(model: type[models.Model]) -> set[str]:
    """The names of the model's fields that lead an index of its table (the key, a unique or
    indexed field, a foreign key, the first column of an index or unique constraint without a
    condition): a list sorted by one of them reads its first page along that index."""
    led = {f.name for f in model._meta.concrete_fields if f.primary_key or f.unique or getattr(f, "db_index", False)}
    for index in model._meta.indexes:
        if index.fields and index.condition is None:
            led.add(index.fields[0].lstrip("-"))
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields and constraint.condition is None:
            led.add(constraint.fields[0])
    return led


class _SortableOnlyChangeList(ChangeList):
    # Django checks sortable_by only when it draws the headers: `?o=` still sorted by any
    # column of the list. A column not sortable is not sorted by, however the URL asks.
    def get_ordering_field(self, field_name: Any) -> Any:
        if field_name not in (self.sortable_by or ()):
            return None
        return super().get_ordering_field(field_name)


class IndexedSort:
    """On a list counted from estimates (EstimatedCountPaginator: a table of millions), only
    the columns an index leads are offered for sorting, and only those sort it. A click on
    any other header sorted the whole table (every journal transaction by its reason, every
    entry by its amount) to show a page, seconds of the database's time each."""

    def get_changelist(self, request: Any, **kwargs: Any) -> Any:
        return _SortableOnlyChangeList

    def get_sortable_by(self, request: Any) -> Any:
        sortable = super().get_sortable_by(request)  # type: ignore[misc]
        if not issubclass(self.paginator, EstimatedCountPaginator):  # type: ignore[attr-defined]
            return sortable
        led = index_led_fields(self.model)  # type: ignore[attr-defined]
        return [name for name in sortable if self._sorted_by(name) in led]

    def _sorted_by(self, name: str) -> str | None:
        """The field of this model a column sorts by, or None when it sorts by something else
        (a joined table's column, an expression, nothing)."""
        model = self.model  # type: ignore[attr-defined]
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            attr = getattr(self, name, None) or getattr(model, name, None)
            order = getattr(attr, "admin_order_field", None)
            if not isinstance(order, str) or "__" in order.lstrip("-"):
                return None
            return self._sorted_by(order.lstrip("-"))
        if field.is_relation:
            # Django sorts by a foreign key through the related model's own ordering, if it has one.
            related = field.related_model
            return field.name if field.many_to_one and related is not None and not related._meta.ordering else None
        return field.name


class ReadOnlyAdmin(IndexedSort, ExactSearch, admin.ModelAdmin):
    """For records that are written only by services (ledger, audit, rounds, deliveries):
    staff read and search them, never add, edit or delete them here."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ActionOnlyAdmin(IndexedSort, ExactSearch, admin.ModelAdmin):
    """For service-written records that staff act on through list actions ("Send now",
    "Retry now"), which need the change permission: the change page shows no save buttons and
    saves nothing, so that it can never write back the row as it was read over a worker's
    update."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def save_model(self, request: Any, obj: Any, form: Any, change: Any) -> None:
        pass

    def changeform_view(
        self, request: Any, object_id: Any = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().changeform_view(request, object_id, form_url, extra_context)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def _values_filter(
    column: str, title: str, choices: Callable[[Any], list[tuple[Any, str]]], *, only_listed: bool
) -> type[admin.SimpleListFilter]:
    """A list filter by a column's values as `choices(model)` lists them when the page is
    shown, in place of Django's own filter for a plain field, which reads them with SELECT
    DISTINCT over the whole table on every load of the list. With `only_listed`, a value it
    does not list is refused as Django's own filters refuse one they cannot use."""

    class ValuesFilter(admin.SimpleListFilter):
        parameter_name = column

        def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
            return [(str(value), label) for value, label in choices(model_admin.model)]

        def queryset(self, request: Any, queryset: Any) -> Any:
            if self.value() is None:
                return queryset
            if only_listed and self.value() not in {value for value, _ in self.lookup_choices}:
                raise IncorrectLookupParameters(f"{column}={self.value()!r}")
            return queryset.filter(**{column: self.value()})

    ValuesFilter.title = title
    return ValuesFilter


def indexed_values_filter(column: str, title: str) -> type[admin.SimpleListFilter]:
    """A list filter by the values of a column that an index leads with, found along it (the
    journal's provider codes, the idempotency keys' scopes)."""
    return _values_filter(
        column,
        title,
        lambda model: [(value, str(value) or "(none)") for value in values_along_index(model, column)],
        only_listed=False,
    )


def choices_filter(
    column: str, title: str, choices: Callable[[], list[tuple[Any, str]]]
) -> type[admin.SimpleListFilter]:
    """A list filter by a column's known values (a column with no index to find them along),
    listed when the page is (every app's errors are loaded by then)."""
    return _values_filter(column, title, lambda model: choices(), only_listed=True)


class BookedWhenFilter(admin.SimpleListFilter):
    """The journal by when it was booked (UTC days), along its time index: where a date
    hierarchy read the distinct days of the whole journal on every load of the list."""

    title = "booked"
    parameter_name = "booked"
    CHOICES = [("today", "Today"), ("yesterday", "Yesterday"), ("7d", "Past 7 days"), ("month", "This month")]

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return self.CHOICES

    def queryset(self, request: Any, queryset: Any) -> Any:
        today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        since, until = {
            "today": (today, None),
            "yesterday": (today - timedelta(days=1), today),
            "7d": (today - timedelta(days=6), None),
            "month": (today.replace(day=1), None),
        }.get(self.value() or "", (None, None))
        if since is not None:
            queryset = queryset.filter(created_at__gte=since)
        if until is not None:
            queryset = queryset.filter(created_at__lt=until)
        return queryset


class FlaggedFilter(admin.SimpleListFilter):
    """Deliveries that kept failing (`flagged_at` set): what support looks at first."""

    title = "needs attention"
    parameter_name = "flagged"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Flagged for staff")]

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(flagged_at__isnull=False) if self.value() == "yes" else queryset


class PendingFirst(admin.SimpleListFilter):
    """A queue's list (withdrawals, staff movements): its open rows unless asked otherwise,
    since working the queue is what staff come there for. The model has a `Status`; `OPEN`
    names the statuses still waiting for staff."""

    title = "status"
    parameter_name = "status"
    QUEUE = "queue"
    OPEN: tuple[str, ...] = ("pending",)
    WAITING_SINCE = "requested_at"  # the field the queue is ordered by

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.QUEUE, "Waiting for staff"), *model_admin.model.Status.choices, ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or self.QUEUE) == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: Any, queryset: Any) -> Any:
        value = self.value() or self.QUEUE
        if value == self.QUEUE:
            return queryset.filter(status__in=self.OPEN)
        return queryset if value == "all" else queryset.filter(status=value)

    @classmethod
    def ordering(cls, request: Any) -> list[str]:
        """The queue oldest first, so the longest wait is at the top (along the open rows' own
        index); everything else newest first by the key, the order rows were written in: only
        the open rows have an index with their time, and "All" sorted the whole table by it."""
        queue = request.GET.get(cls.parameter_name, cls.QUEUE) in (cls.QUEUE, *cls.OPEN)
        return [cls.WAITING_SINCE, "id"] if queue else ["-id"]


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' failed sign-ins not yet cleared (settings: "Staff sign-in"); deleting a
    username and address's rows lifts their lockout."""

    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request: Any, queryset: Any) -> None:
        # axes reads the time a sign-in stamps on its request, which a list action's has not.
        request.axes_attempt_time = clock.now()
        super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)


def second_factor_reset_by_staff(request: HttpRequest, users: list[User]) -> int:
    """Reset each one's second factor; the sessions ended, in all. One who reset their own is
    signed out here: their session is gone, and the answer would otherwise save it again."""
    by = f"staff:{request.user.get_username()}"
    ended = sum(staff_second_factor_reset(user, by=by)[1] for user in users)
    if any(user.pk == request.user.pk for user in users):
        auth.logout(request)
    return ended


class SecondFactorDeviceAdmin(admin.ModelAdmin):
    """A member of staff's second factor (casino_platform.second_factor), to see and reset:
    deleting it ends their sessions at once, and they sign in again and set up a new app
    (deleting one resets all of theirs). Nobody adds or changes one here, and no page shows a key or a code (whoever saw
    them could sign in as that member of staff): django-otp's own admin, replaced, let a
    superuser give a colleague a key of the superuser's choosing."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    search_help_text = "A member of staff's username"
    list_select_related = ["user"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    readonly_fields = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    ordering = ["-id"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # Django lets a list be filtered by any field in its address: ?key__startswith= would
        # tell a key one character at a time.
        return lookup in {"confirmed", "confirmed__exact", "user", "user__exact", "user__id__exact", "id", "id__exact"}

    def delete_model(self, request: Any, obj: Any) -> None:
        second_factor_reset_by_staff(request, [obj.user])

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        """Deleting either of a member of staff's devices resets both and ends their sessions:
        one left alone would keep a session in, or leave backup codes nobody can use."""
        second_factor_reset_by_staff(request, list(User.objects.filter(pk__in=queryset.values("user_id"))))


class BackupCodesAdmin(SecondFactorDeviceAdmin):
    """A member of staff's backup codes: how many are left, never what they are."""

    list_display = ["user", "codes_left", "created_at", "last_used_at", "throttling_failure_count"]
    fields = ["user", "codes_left", "created_at", "last_used_at", "throttling_failure_count"]
    readonly_fields = ["user", "codes_left", "created_at", "last_used_at", "throttling_failure_count"]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).annotate(codes_left=models.Count("token_set"))

    @admin.display(description="codes left", ordering="codes_left")
    def codes_left(self, device: Any) -> int:
        return device.codes_left


for device_model, device_admin in ((TOTPDevice, SecondFactorDeviceAdmin), (StaticDevice, BackupCodesAdmin)):
    admin.site.unregister(device_model)
    admin.site.register(device_model, device_admin)


class StaffUserAdmin(UserAdmin):
    """Django's users, with the reset of a member of staff's second factor: the way back in for
    one who lost their phone, or who never set up their app in the time they had (neither has a
    row under Second factor to delete)."""

    actions = ["reset_second_factor"]
    # When the second factor's set-up time runs from (second_factor.staff_set_up_open_until):
    # editable, anyone who may change users could reopen it, or make it last for years.
    readonly_fields = ["last_login", "date_joined"]

    @admin.action(
        description="Reset their second factor (sessions end; they set up a new app at their next sign-in)",
        permissions=["reset_second_factor"],
    )
    def reset_second_factor(self, request: HttpRequest, queryset: Any) -> None:
        users = list(queryset.order_by("username"))
        for user in users:  # the users' history (and the admin's log) names who reset it
            self.log_change(request, user, "Reset their second factor")
        ended = second_factor_reset_by_staff(request, users)
        hours = settings.STAFF_SECOND_FACTOR_SET_UP_HOURS
        self.message_user(
            request,
            f"Second factor reset for {', '.join(u.get_username() for u in users)}: {ended} sessions ended; each "
            f"signs in with their password and sets up an app within {hours} hours.",
            messages.SUCCESS,
        )

    def has_reset_second_factor_permission(self, request: HttpRequest) -> bool:
        # Who may reset one by deleting its row under Second factor.
        return request.user.has_perms(["otp_totp.delete_totpdevice", "otp_static.delete_staticdevice"])


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
