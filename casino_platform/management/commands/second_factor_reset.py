from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from casino_platform.second_factor import staff_second_factor_reset


class Command(BaseCommand):
    help = (
        "Reset a member of staff's second factor (their authenticator app and backup codes), for a lost "
        "phone: their sessions end at once, and they sign in again with their password and set up a new "
        "app. The same as deleting their rows under Admin -> Second factor: authenticator apps and "
        "backup codes."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        devices, sessions = staff_second_factor_reset(user)
        if not devices:
            self.stdout.write(f"{username} had no second factor set up.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{username}'s authenticator app and backup codes are deleted and {sessions} of their sessions "
                f"ended; they sign in again with their password and set up a new app."
            )
        )
