"""Back-office building blocks shared by the apps' admins."""

from typing import Any

from django.contrib import admin
from django.db import router, transaction

from ledger.settings_audit import setting_changes_record, setting_snapshot


def shown_on_the_page(form: Any, name: str) -> Any:
    """What the page showed of field `name` (show_hidden_initial), as the browser posted it
    back; None when the post carries no such copy (a script's)."""
    bound = form[name]
    return bound.field.hidden_widget().value_from_datadict(form.data, form.files, bound.html_initial_name)


class SettingsAuditAdmin(admin.ModelAdmin):
    """For operator settings (ledger.settings_audit.AUDITED_SETTINGS): each change saved here,
    on the change page or in the list, and each deletion, is recorded as SettingChange rows
    in the transaction the admin saves it in."""

    def save_model(self, request: Any, obj: Any, form: Any, change: Any) -> None:
        before = setting_snapshot(obj) if change else None
        super().save_model(request, obj, form, change)
        reason = self.reason(obj, form)
        setting_changes_record(obj=obj, before=before, changed_by=request.user.get_username(), reason=reason)

    def delete_model(self, request: Any, obj: Any) -> None:
        before = setting_snapshot(obj)
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that are written only by services (ledger, audit, rounds, deliveries):
    staff read and search them, never add, edit or delete them here."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ActionOnlyAdmin(admin.ModelAdmin):
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
        """The queue oldest first, so the longest wait is at the top; everything else newest first."""
        queue = request.GET.get(cls.parameter_name, cls.QUEUE) in (cls.QUEUE, *cls.OPEN)
        return [cls.WAITING_SINCE, "id"] if queue else [f"-{cls.WAITING_SINCE}", "-id"]
