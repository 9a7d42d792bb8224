"""Staff sign-in's second factor (STAFF_SECOND_FACTOR, django-otp). After the password, the
back office asks for a code from an authenticator app (TOTP, RFC 6238), or one of the backup
codes given when the app was set up. A member of staff without an app sets one up at that
point: the page shows its key as a QR code, and the first code the app makes confirms it.

The admin site (StaffAdminSite, Django's default admin site here, so every app's admin is on
it) lets a signed-in member of staff in only once the second factor passed in their session.
django-otp's middleware finds the device the session passed with on each request: deleting a
member of staff's devices (Admin -> Second factor, or `manage.py second_factor_reset`) ends
their sessions' access at once, and they set up a new app at their next sign-in."""

import io
import re
from base64 import b32encode, b64encode
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import django_otp
from django import forms
from django.conf import settings
from django.contrib import admin, auth, messages
from django.contrib.auth.models import AbstractBaseUser, User
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10
# An app's code is six digits; a backup code eight letters and digits (StaticToken.random_token):
# which one was typed decides the device it is checked against, so that a mistyped code
# slows down only the one it was meant for.
_APP_CODE = re.compile(r"\d{6}")


def staff_awaits_second_factor(request: HttpRequest) -> bool:
    """Whether the request's user is a member of staff who gave the password but not yet the
    second factor. django.contrib.auth.login() puts a plain user on the request, without
    django-otp's is_verified(): in that request, the second factor has not passed."""
    user = request.user
    if not (settings.STAFF_SECOND_FACTOR and user.is_authenticated and user.is_active and user.is_staff):
        return False
    is_verified = getattr(user, "is_verified", None)
    return is_verified is None or not is_verified()


def staff_second_factor_failing() -> int:
    """Members of staff whose last code was wrong (a success clears the count): they mistyped,
    or someone who has their password is guessing."""
    app = TOTPDevice.objects.filter(throttling_failure_count__gt=0).values("user_id")
    backup = StaticDevice.objects.filter(throttling_failure_count__gt=0).values("user_id")
    return app.union(backup).count()  # UNION: one member of staff failing at both counts once


def staff_without_second_factor() -> int:
    """Active staff users who have not set up an authenticator app: until they do, whoever has
    their password can set one up (the next sign-in asks for it)."""
    confirmed = TOTPDevice.objects.filter(confirmed=True).values("user_id")
    return User.objects.filter(is_active=True, is_staff=True).exclude(pk__in=confirmed).count()


# --- Services ---------------------------------------------------------------------------


def staff_authenticator(user: AbstractBaseUser) -> TOTPDevice | None:
    """The member of staff's confirmed authenticator app, if they set one up."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()


def staff_authenticator_to_set_up(user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator key the set-up page shows until a code from it confirms it: the same
    one on each visit (under the user's row lock, so that two tabs show one key)."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("-pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
        return device


@dataclass(frozen=True)
class SecondFactorCheck:
    device: Device | None  # the device that accepted the code; None when refused
    refusal: str = ""
    backup_codes_left: int | None = None  # after a backup code was used


def _throttled(device: Device) -> str:
    allowed, why = device.verify_is_allowed()
    if allowed:
        return ""
    wait = max(1, int((why["locked_until"] - timezone.now()).total_seconds()) + 1)  # django-otp's clock
    return (
        f"Too many wrong codes: the next one is checked in {wait} second{pluralize(wait)}. Ask an administrator "
        f"to reset your second factor if you no longer have the app or your backup codes."
    )


def staff_second_factor_check(user: AbstractBaseUser, code: str) -> SecondFactorCheck:
    """Check a code typed at sign-in against the member of staff's app, or, when it has the
    form of one, their backup codes (each accepted once). Each wrong code doubles the wait
    before the next is checked, from one second (django-otp's throttle)."""
    code = "".join(code.split()).lower()
    if _APP_CODE.fullmatch(code):
        device: Device | None = staff_authenticator(user)
    else:
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()
    if device is None:
        return SecondFactorCheck(None, "That is not a code from your authenticator app or one of your backup codes.")
    if refusal := _throttled(device):
        return SecondFactorCheck(None, refusal)
    # Under the device's row lock (django-otp), so that two tabs' guesses are both counted.
    accepted = django_otp.verify_token(user, device.persistent_id, code)
    if accepted is None:
        if isinstance(device, StaticDevice):
            return SecondFactorCheck(None, "That is not one of your backup codes, or it was used before.")
        return SecondFactorCheck(
            None, "That is not the code your authenticator app shows now (is the phone's clock right?)."
        )
    left = accepted.token_set.count() if isinstance(accepted, StaticDevice) else None
    return SecondFactorCheck(accepted, backup_codes_left=left)


def staff_authenticator_confirm(user: AbstractBaseUser, code: str) -> tuple[TOTPDevice | None, str]:
    """Confirm the app being set up with a code it made: it is then the member of staff's one
    app (any other is deleted). Returns it, or None and why not."""
    with transaction.atomic():
        device = TOTPDevice.objects.devices_for_user(user, confirmed=False).select_for_update().order_by("-pk").first()
        if device is None:
            return None, "The key to set up changed: scan the new QR code and type its code."
        if refusal := _throttled(device):
            return None, refusal
        if not device.verify_token("".join(code.split())):
            return None, "That is not the code your authenticator app shows now (is the phone's clock right?)."
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return device, ""


def staff_backup_codes_issue(user: AbstractBaseUser) -> list[str]:
    """BACKUP_CODE_COUNT new backup codes for the member of staff, each good for one sign-in;
    those given before no longer work."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def staff_second_factor_reset(user: AbstractBaseUser) -> int:
    """Delete the member of staff's app and backup codes: their sessions lose access at once,
    and they set up a new app at their next sign-in. Returns how many devices were deleted."""
    with transaction.atomic():
        apps, _ = TOTPDevice.objects.filter(user=user).delete()
        backup, _ = StaticDevice.objects.filter(user=user).delete()
    return apps + backup


def _qr_code(device: TOTPDevice) -> str:
    """The app's key as a QR code, an SVG image in a data: address (nothing fetched)."""
    svg = io.BytesIO()
    write_qrcode_image(device.config_url, svg)
    return "data:image/svg+xml;base64," + b64encode(svg.getvalue()).decode()


def _key_to_type(device: TOTPDevice) -> str:
    """The key as an app asks it typed in, when the camera cannot read the QR code."""
    key = b32encode(device.bin_key).decode()
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


# --- The admin site ---------------------------------------------------------------------


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


class StaffAdminSite(admin.AdminSite):
    """Django's admin site, which lets staff in only once their session passed the second
    factor (STAFF_SECOND_FACTOR)."""

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not staff_awaits_second_factor(request)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().each_context(request), "second_factor": settings.STAFF_SECOND_FACTOR}

    def get_urls(self) -> list[Any]:
        return [
            path("second-factor/", self.second_factor_view, name="second_factor"),
            path(
                "second-factor/backup-codes/",
                self.admin_view(self.backup_codes_view),
                name="second_factor_backup_codes",
            ),
            *super().get_urls(),
        ]

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET" and staff_awaits_second_factor(request):
            return self._to_second_factor(request)  # a back-office page sent them here
        response = super().login(request, extra_context)
        if request.method == "POST" and response.status_code == 302 and staff_awaits_second_factor(request):
            return self._to_second_factor(request)  # the password was right
        return response

    def _next(self, request: HttpRequest) -> str:
        wanted = request.POST.get("next") or request.GET.get("next") or ""
        if url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure()):
            return wanted
        return reverse("admin:index", current_app=self.name)

    def _to_second_factor(self, request: HttpRequest) -> HttpResponse:
        where = reverse("admin:second_factor", current_app=self.name)
        return redirect(f"{where}?{urlencode({'next': self._next(request)}, safe='/')}")

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    def second_factor_view(self, request: HttpRequest) -> HttpResponse:
        next_url = self._next(request)
        if not staff_awaits_second_factor(request):
            if self.has_permission(request):
                return redirect(next_url)
            return redirect_to_login(next_url, reverse("admin:login", current_app=self.name))
        if request.method == "POST" and "sign_out" in request.POST:
            auth.logout(request)
            return redirect("admin:login")
        user = cast(User, request.user)  # a member of staff: staff_awaits_second_factor
        authenticator = staff_authenticator(user)
        form = SecondFactorForm(request.POST if request.method == "POST" else None)
        context = {
            **self.each_context(request),
            "form": form,
            "next": next_url,
            "username": user.get_username(),
        }
        if authenticator is None:
            return self._set_up(request, form, context)
        if form.is_valid():
            check = staff_second_factor_check(user, form.cleaned_data["code"])
            if check.device is not None:
                # A new session key for the session that may now move money: one read before
                # (with the password alone) is worth nothing.
                request.session.cycle_key()
                django_otp.login(request, check.device)
                if check.backup_codes_left is not None:
                    messages.warning(
                        request,
                        f"You signed in with a backup code, which no longer works; {check.backup_codes_left} "
                        f"are left. Make new ones under Backup codes at the top of the page.",
                    )
                return redirect(next_url)
            form.add_error("code", check.refusal)
        return render(request, "admin/second_factor/check.html", {**context, "title": "Second factor"})

    def _set_up(self, request: HttpRequest, form: SecondFactorForm, context: dict[str, Any]) -> HttpResponse:
        user = cast(User, request.user)  # a member of staff: staff_awaits_second_factor
        if form.is_valid():
            device, refusal = staff_authenticator_confirm(user, form.cleaned_data["code"])
            if device is not None:
                codes = staff_backup_codes_issue(user)
                request.session.cycle_key()
                django_otp.login(request, device)
                return render(
                    request,
                    "admin/second_factor/backup_codes.html",
                    {**self.each_context(request), "codes": codes, "next": context["next"], "title": "Backup codes"},
                )
            form.add_error("code", refusal)
        device = staff_authenticator_to_set_up(user)
        return render(
            request,
            "admin/second_factor/set_up.html",
            {
                **context,
                "title": "Set up your second factor",
                "qr_code": _qr_code(device),
                "key": _key_to_type(device),
                "issuer": settings.OTP_TOTP_ISSUER,
            },
        )

    def backup_codes_view(self, request: HttpRequest) -> HttpResponse:
        """How many backup codes are left; a POST makes new ones (shown once), the old void."""
        context = {**self.each_context(request), "title": "Backup codes"}
        if request.method == "POST":
            codes = staff_backup_codes_issue(cast(User, request.user))
            return render(request, "admin/second_factor/backup_codes.html", {**context, "codes": codes})
        device = StaticDevice.objects.devices_for_user(request.user, confirmed=True).first()
        left = device.token_set.count() if device is not None else 0
        return render(request, "admin/second_factor/backup_codes_left.html", {**context, "left": left})
