"""Staff sign-in's second factor (STAFF_SECOND_FACTOR, django-otp). After the password, the
back office asks for a code from an authenticator app (TOTP, RFC 6238), or one of the backup
codes given when the app was set up. A member of staff without an app sets one up at that
point: the page shows its key as a QR code, and the first code the app makes confirms it.

The admin site (StaffAdminSite, Django's default admin site here, so every app's admin is on
it) lets a signed-in member of staff in only once the second factor passed in their session.
django-otp's middleware finds the device the session passed with on each request. Resetting
a member of staff's second factor (Admin -> Second factor, or `manage.py second_factor_reset`)
deletes their devices and ends their sessions: they sign in again and set up a new app."""

import io
import logging
import re
from base64 import b32encode, b64encode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

import django_otp
from django import forms
from django.conf import settings
from django.contrib import admin, auth, messages
from django.contrib.auth.models import AbstractBaseUser, User
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.models import Session
from django.core.management import CommandError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

from casino_platform.models import SecondFactorSetUp
from casino_platform.sign_in import staff_sign_in_address

AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10
# An app's code is six digits; a backup code eight letters and digits (StaticToken.random_token):
# which one was typed decides the device it is checked against, so that a mistyped code
# slows down only the one it was meant for.
_APP_CODE = re.compile(r"\d{6}", re.ASCII)
# A key shown on the set-up page is confirmed within this long, or a new one is shown.
SET_UP_MINUTES = 10
logger = logging.getLogger(__name__)


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
    """Active members of staff whose last code was wrong within the sign-in lockout's cool-off
    (a success clears it): they mistyped, or someone who has their password is guessing."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    failing = {
        "throttling_failure_count__gt": 0,
        "throttling_failure_timestamp__gte": since,
        "confirmed": True,
        "user__is_active": True,
        "user__is_staff": True,
    }
    app = TOTPDevice.objects.filter(**failing).values("user_id")
    backup = StaticDevice.objects.filter(**failing).values("user_id")
    return app.union(backup).count()  # UNION: one member of staff failing at both counts once


def staff_without_app() -> QuerySet[User]:
    """Active staff users who have not set up an authenticator app: until they do, whoever has
    their password can set one up (the next sign-in asks for it), within the set-up time."""
    confirmed = TOTPDevice.objects.filter(confirmed=True).values("user_id")
    return User.objects.filter(is_active=True, is_staff=True).exclude(pk__in=confirmed)


def staff_without_second_factor() -> int:
    return staff_without_app().count()


# --- Services ---------------------------------------------------------------------------


def _lock_user(user: AbstractBaseUser) -> None:
    """Serialize a member of staff's second-factor changes (two tabs, a double click)."""
    User.objects.select_for_update().filter(pk=user.pk).first()


def staff_authenticator(user: AbstractBaseUser) -> TOTPDevice | None:
    """The member of staff's confirmed authenticator app, if they set one up."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()


def staff_set_up_open_until(user: User) -> datetime:
    """Until when the member of staff may set up an authenticator app with their password
    alone: STAFF_SECOND_FACTOR_SET_UP_HOURS from their last reset or promotion to staff
    (SecondFactorSetUp), or from the day they joined."""
    opened = SecondFactorSetUp.objects.filter(user=user).values_list("opened_at", flat=True).first()
    try:
        return (opened or user.date_joined) + timedelta(hours=settings.STAFF_SECOND_FACTOR_SET_UP_HOURS)
    except OverflowError:  # a date near the calendar's end: open, rather than a 500
        return datetime.max.replace(tzinfo=UTC)


def staff_set_up_open(user: User) -> None:
    """Give the member of staff the set-up time from now: a reset, or a user just made staff
    or switched back on (whose date_joined may be years old)."""
    SecondFactorSetUp.objects.update_or_create(user_id=user.pk, defaults={"opened_at": timezone.now()})


_PROMOTED = "_second_factor_set_up_opens"


def staff_promotion_note(sender: type[User], instance: User, **kwargs: Any) -> None:
    """pre_save of User: whether the save makes them active staff (promoted, or switched back
    on), for staff_promotion_open to give them the set-up time from then rather than none."""
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or not (instance.is_staff and instance.is_active):
        return
    if update_fields is not None and not {"is_staff", "is_active"} & set(update_fields):
        return  # a sign-in's last_login, say
    was = User.objects.filter(pk=instance.pk).values_list("is_staff", "is_active").first()
    setattr(instance, _PROMOTED, was is not None and not all(was))


def staff_promotion_open(sender: type[User], instance: User, **kwargs: Any) -> None:
    """post_save of User, in the save's transaction: see staff_promotion_note."""
    if instance.__dict__.pop(_PROMOTED, False):
        staff_set_up_open(instance)


def staff_authenticator_to_set_up(user: AbstractBaseUser, shown: int | None) -> TOTPDevice:
    """The authenticator key the set-up page shows this session: the one it showed before
    (`shown`, kept in the session) while SET_UP_MINUTES old, else a new one. A new one deletes
    any other being set up, so that a key seen in another session (by whoever else has the
    password) is never the one confirmed without the member of staff seeing the page change."""
    with transaction.atomic():
        _lock_user(user)
        device = _key_shown(user, shown)
        if device is None:
            TOTPDevice.objects.devices_for_user(user, confirmed=False).delete()
            device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
        return device


def _key_shown(user: AbstractBaseUser, shown: int | None) -> TOTPDevice | None:
    """The key being set up that this session was shown (`shown`), while SET_UP_MINUTES old."""
    if not shown:
        return None
    fresh = timezone.now() - timedelta(minutes=SET_UP_MINUTES)
    return TOTPDevice.objects.devices_for_user(user, confirmed=False).filter(pk=shown, created_at__gte=fresh).first()


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


_WRONG_APP_CODE = "That is not the code your authenticator app shows now (is the phone's clock right?)."


class BackupCodeRefused(CommandError):
    """A backup code given by hand that no sign-in would accept. A CommandError because the one
    way to give one by hand is django-otp's `manage.py addstatictoken -t`, which then says why
    instead of printing a traceback."""


def backup_code_as_typed(sender: type[StaticToken], instance: StaticToken, **kwargs: Any) -> None:
    """Store a backup code as the sign-in reads a typed one (pre_save of StaticToken): without
    spaces, in small letters. Six digits are refused: the sign-in checks a code of that form
    against the authenticator app, so it would never let anyone in. The codes the platform
    makes (StaticToken.random_token) are already so; this is for `addstatictoken -t`."""
    code = "".join(instance.token.split()).lower()
    if not code:
        raise BackupCodeRefused("A backup code cannot be empty: leave out -t for a random one.")
    if _APP_CODE.fullmatch(code):
        raise BackupCodeRefused(
            f"{instance.token!r} cannot be a backup code: the sign-in takes six digits for the authenticator "
            "app's. Give letters and digits (the platform's own are eight), or leave out -t for a random one."
        )
    instance.token = code


def staff_second_factor_check(user: AbstractBaseUser, code: str, *, backup_codes: bool = True) -> SecondFactorCheck:
    """Check a code typed at sign-in against the member of staff's app, or, when it has the
    form of one, their backup codes (each accepted once; not when `backup_codes` is False).
    Each wrong code doubles the wait before the next is checked, from one second (django-otp's
    throttle)."""
    code = "".join(code.split()).lower()
    if _APP_CODE.fullmatch(code):
        device: Device | None = staff_authenticator(user)
    elif backup_codes:
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()
    else:
        return SecondFactorCheck(None, _WRONG_APP_CODE)
    if device is None:
        return SecondFactorCheck(None, "That is not a code from your authenticator app or one of your backup codes.")
    if refusal := _throttled(device):
        return SecondFactorCheck(None, refusal)
    # Under the device's row lock (django-otp), so that two tabs' guesses are both counted.
    accepted = django_otp.verify_token(user, device.persistent_id, code)
    if accepted is None:
        if isinstance(device, StaticDevice):
            return SecondFactorCheck(None, "That is not one of your backup codes, or it was used before.")
        return SecondFactorCheck(None, _WRONG_APP_CODE)
    left = accepted.token_set.count() if isinstance(accepted, StaticDevice) else None
    return SecondFactorCheck(accepted, backup_codes_left=left)


def staff_authenticator_confirm(user: AbstractBaseUser, shown: int | None, code: str) -> tuple[TOTPDevice | None, str]:
    """Confirm the app being set up, the key this session showed (`shown`), with a code it
    made: it is then the member of staff's one app. Returns it, or None and why not."""
    with transaction.atomic():
        _lock_user(user)
        device = _key_shown(user, shown)
        if device is None:
            return None, "The key to set up changed: scan the new QR code and type its code."
        if refusal := _throttled(device):
            return None, refusal
        if not device.verify_token("".join(code.split())):
            return None, _WRONG_APP_CODE
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return device, ""


def staff_backup_codes_issue(user: AbstractBaseUser) -> list[str]:
    """BACKUP_CODE_COUNT new backup codes for the member of staff, each good for one sign-in;
    those given before no longer work. The device holding them stays: a session that signed
    in with one of the old codes stays signed in."""
    with transaction.atomic():
        _lock_user(user)
        device = StaticDevice.objects.filter(user=user).order_by("pk").first()
        if device is None:
            device = StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME, confirmed=True)
        StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def staff_sessions_end(user: AbstractBaseUser) -> int:
    """End the member of staff's signed-in sessions. Staff are the only users with sessions,
    each ends after STAFF_SESSION_IDLE_MINUTES, and the ended are deleted nightly: the live
    ones are few enough to read."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get(auth.SESSION_KEY) == str(user.pk):
            session.delete()
            ended += 1
    return ended


def staff_second_factor_reset(user: AbstractBaseUser, *, by: str) -> tuple[int, int]:
    """Delete the member of staff's app and backup codes, and end their sessions: they sign in
    again with their password and set up a new app, within STAFF_SECOND_FACTOR_SET_UP_HOURS
    from now (a session already open would otherwise set one up without the password).
    Returns the devices deleted and the sessions ended."""
    with transaction.atomic():
        _lock_user(user)
        apps, _ = TOTPDevice.objects.filter(user=user).delete()
        backup, _ = StaticDevice.objects.filter(user=user).delete()
        staff_set_up_open(cast(User, user))
        sessions = staff_sessions_end(user)
    logger.warning("staff second factor reset for %s by %s: %d sessions ended", user.get_username(), by, sessions)
    return apps + backup, sessions


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
        if not super().has_permission(request):
            return False
        if staff_awaits_second_factor(request):
            # Logging out needs no second factor: a tab left open before it still signs out.
            return request.path == reverse("admin:logout", current_app=self.name)
        return True

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
        return HttpResponseRedirect(f"{where}?{urlencode({'next': self._next(request)}, safe='/')}")

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    @method_decorator(sensitive_post_parameters("code"))
    def second_factor_view(self, request: HttpRequest) -> HttpResponse:
        next_url = self._next(request)
        if not staff_awaits_second_factor(request):
            if self.has_permission(request):
                return HttpResponseRedirect(next_url)  # a path, never a URL name to reverse
            return redirect_to_login(next_url, reverse("admin:login", current_app=self.name))
        if request.method == "POST" and "sign_out" in request.POST:
            auth.logout(request)
            return HttpResponseRedirect(reverse("admin:login", current_app=self.name))
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
            _log(request, check.device, check.refusal)
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
                return HttpResponseRedirect(next_url)
            form.add_error("code", check.refusal)
        return render(request, "admin/second_factor/check.html", {**context, "title": "Second factor"})

    def _set_up(self, request: HttpRequest, form: SecondFactorForm, context: dict[str, Any]) -> HttpResponse:
        user = cast(User, request.user)  # a member of staff: staff_awaits_second_factor
        open_until = staff_set_up_open_until(user)
        if open_until <= timezone.now():
            _log(request, None, f"the time to set up an app ended at {open_until:%Y-%m-%d %H:%M} UTC", setting_up=True)
            request.session.pop(_SETTING_UP, None)
            return render(
                request,
                "admin/second_factor/set_up_ended.html",
                {
                    **context,
                    "title": "Second factor not set up",
                    "open_until": open_until,
                    "set_up_hours": settings.STAFF_SECOND_FACTOR_SET_UP_HOURS,
                },
                status=403,
            )
        shown = request.session.get(_SETTING_UP)
        if form.is_valid():
            device, refusal = staff_authenticator_confirm(user, shown, form.cleaned_data["code"])
            _log(request, device, refusal, setting_up=True)
            if device is not None:
                codes = staff_backup_codes_issue(user)
                request.session.pop(_SETTING_UP, None)
                request.session.cycle_key()
                django_otp.login(request, device)
                return render(
                    request,
                    "admin/second_factor/backup_codes.html",
                    {**self.each_context(request), "codes": codes, "next": context["next"], "title": "Backup codes"},
                )
            form.add_error("code", refusal)
        device = staff_authenticator_to_set_up(user, shown)
        request.session[_SETTING_UP] = device.pk
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

    @method_decorator(sensitive_post_parameters("code"))
    def backup_codes_view(self, request: HttpRequest) -> HttpResponse:
        """How many backup codes are left; a POST with a code from the app makes new ones
        (shown once), the old void: a session left open does not become a lasting way in."""
        user = cast(User, request.user)
        context = {**self.each_context(request), "title": "Backup codes"}
        form = SecondFactorForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            check = staff_second_factor_check(user, form.cleaned_data["code"], backup_codes=False)
            _log(request, check.device, check.refusal)
            if check.device is not None:
                codes = staff_backup_codes_issue(user)
                return render(request, "admin/second_factor/backup_codes.html", {**context, "codes": codes})
            form.add_error("code", check.refusal)
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()
        left = device.token_set.count() if device is not None else 0
        return render(request, "admin/second_factor/backup_codes_left.html", {**context, "left": left, "form": form})


_SETTING_UP = "second_factor_setting_up"  # the session's key on the set-up page


def _log(request: HttpRequest, device: Device | None, refusal: str, *, setting_up: bool = False) -> None:
    """Each second-factor attempt, with who and from where (PCI DSS 10.2: access attempts)."""
    who, where = request.user.get_username(), staff_sign_in_address(request)
    if device is None:
        step = " setting up" if setting_up else ""
        logger.warning("staff second factor refused for %s from %s%s: %s", who, where, step, refusal)
        return
    kind = "backup code" if isinstance(device, StaticDevice) else "authenticator app"
    logger.info("staff second factor %s by %s from %s (%s)", "set up" if setting_up else "passed", who, where, kind)
