from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from casino_platform.second_factor import staff_second_factor_reset, staff_without_app


class Command(BaseCommand):
    help = (
        "Reset a member of staff's second factor (their authenticator app and backup codes), for a lost "
        "phone or a set-up time that ran out: their sessions end at once, and they sign in again with their "
        "password and set up a new app within STAFF_SECOND_FACTOR_SET_UP_HOURS. The same as deleting their rows "
        "under Admin -> Second factor, or Admin -> Users' action. --without-app: every active member of staff "
        "who has no app, as after turning STAFF_SECOND_FACTOR on."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")
        parser.add_argument(
            "--without-app",
            action="store_true",
            help="Every active member of staff without an authenticator app, instead of one username.",
        )

    def handle(self, *args, username: str | None, without_app: bool, **options):
        if bool(username) == without_app:
            raise CommandError("Give a username, or --without-app (not both).")
        if without_app:
            users = list(staff_without_app().order_by("pk"))
        else:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user is called {username!r}.")
            users = [user]
        hours = settings.STAFF_SECOND_FACTOR_SET_UP_HOURS
        for user in users:
            devices, sessions = staff_second_factor_reset(user, by="manage.py second_factor_reset")
            if not devices:
                self.stdout.write(f"{user.get_username()} had no second factor set up.")
            self.stdout.write(
                self.style.SUCCESS(
                    f"{user.get_username()}'s authenticator app and backup codes are deleted and {sessions} of their "
                    f"sessions ended; they sign in again with their password and set up a new app within {hours} "
                    "hours."
                )
            )
        if without_app and not users:
            self.stdout.write("Every active member of staff has an authenticator app: nothing to do.")
