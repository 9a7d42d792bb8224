from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from casino_platform.second_factor import staff_second_factor_reset


class Command(BaseCommand):
    help = (
        "Reset a member of staff's second factor (their authenticator app and backup codes), for a lost "
        "phone: their sessions lose access to the back office at once, and they set up a new app at their "
        "next sign-in. The same as deleting their rows under Admin -> Second factor: authenticator apps and "
        "backup codes."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        deleted = staff_second_factor_reset(user)
        if not deleted:
            self.stdout.write(f"{username} has no second factor set up: they set one up at their next sign-in.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{username}'s authenticator app and backup codes are deleted; they set up a new app at their "
                f"next sign-in."
            )
        )
