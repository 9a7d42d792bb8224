from typing import Any

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from casino_platform.admin import ReadOnlyAdmin
from casino_platform.errors import DomainError

from .models import RollbackTombstone, Wallet
from .services import wallet_adjust, wallet_deposit, wallet_withdraw, wallet_withdrawal_return


class MoneyMovementForm(forms.Form):
    KINDS = [
        ("deposit", "Deposit"),
        ("withdraw", "Withdrawal"),
        ("adjust", "Adjustment (signed)"),
        ("return", "Return a failed payout (the withdrawal's reference; no amount)"),
    ]
    kind = forms.ChoiceField(choices=KINDS)
    amount = forms.IntegerField(
        required=False, help_text="Minor units of the wallet's currency. Adjustments may be negative."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept in the ledger memo.")
    reference = forms.CharField(
        required=False,
        max_length=128,
        help_text="Optional idempotency reference (e.g. a bank transfer id); for a return, the withdrawal's.",
    )

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
class WalletAdmin(admin.ModelAdmin):
    list_display = ("player", "currency", "balance_display", "updated_at", "move_money_link")
    list_filter = ("currency",)
    search_fields = ("=player__player_id",)
    list_select_related = ("player", "currency")
    readonly_fields = ("player", "currency", "balance", "account", "created_at", "updated_at")

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Balance", ordering="balance")
    def balance_display(self, obj: Wallet) -> str:
        return obj.currency.format(obj.balance)

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
        form = MoneyMovementForm(request.POST or None)
        # Minor units are cents only at exponent 2: say what they are in this wallet's currency.
        example = f"1050 = {wallet.currency.format(1050)}"
        help_text = f"Minor units of {wallet.currency_id}: {example}. Adjustments may be negative."
        form.fields["amount"].help_text = help_text
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            staff = f"staff:{request.user.get_username()}"
            try:
                if data["kind"] == "return":
                    result = wallet_withdrawal_return(
                        player_id=wallet.player.player_id,
                        reference=data["reference"],
                        created_by=staff,
                        reason=data["reason"],
                        currency=wallet.currency_id,
                    )
                else:
                    service = {"deposit": wallet_deposit, "withdraw": wallet_withdraw, "adjust": wallet_adjust}
                    result = service[data["kind"]](
                        player_id=wallet.player.player_id,
                        currency=wallet.currency_id,
                        amount=data["amount"],
                        created_by=staff,
                        reason=data["reason"],
                        reference=data["reference"] or None,
                    )
            except DomainError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
            else:
                new = wallet.currency.format(result.balance)
                messages.success(request, f"Done (ledger transaction {result.platform_transaction_id}); balance {new}.")
                return redirect("admin:wallet_wallet_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "wallet": wallet,
            "title": f"Move money: {wallet}",
            "opts": self.model._meta,
        }
        return render(request, "admin/wallet/move_money.html", context)


@admin.register(RollbackTombstone)
class RollbackTombstoneAdmin(ReadOnlyAdmin):
    list_display = ("provider_code", "transaction_id", "rollback_transaction_id", "player_id_text", "created_at")
    search_fields = ("=transaction_id", "=player_id_text")
