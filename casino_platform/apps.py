from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django_otp.plugins.otp_static import apps as otp_static_apps
from django_otp.plugins.otp_totp import apps as otp_totp_apps


class PlatformConfig(AppConfig):
    name = "casino_platform"
    verbose_name = "Casino platform"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_save, pre_save

        from . import checks  # noqa: F401 - registers the deploy checks of the production settings
        from .second_factor import staff_promotion_note, staff_promotion_open
        from .sign_in import staff_session_mark

        # Seen at sign-in, whose save sets the session's end: the next minute's requests write nothing.
        user_logged_in.connect(staff_session_mark, dispatch_uid="staff_session_mark")
        # A user made staff (or switched back on) has the second factor's set-up time from then.
        pre_save.connect(staff_promotion_note, sender=User, dispatch_uid="staff_promotion_note")
        post_save.connect(staff_promotion_open, sender=User, dispatch_uid="staff_promotion_open")


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin, whose default site (admin.site, where every app registers) asks
    staff for the second factor after the password (casino_platform.second_factor)."""

    default_site = "casino_platform.second_factor.StaffAdminSite"


class AuthenticatorAppsConfig(otp_totp_apps.DefaultConfig):
    """django-otp's authenticator apps, under a name staff recognise in the admin's index."""

    verbose_name = "Second factor: authenticator apps"


class BackupCodesConfig(otp_static_apps.DefaultConfig):
    verbose_name = "Second factor: backup codes"

    def ready(self) -> None:
        super().ready()
        from django.db.models.signals import pre_save
        from django_otp.plugins.otp_static.models import StaticToken

        from .second_factor import backup_code_as_typed

        pre_save.connect(backup_code_as_typed, sender=StaticToken, dispatch_uid="backup_code_as_typed")
