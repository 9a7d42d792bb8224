from django.core.management.base import BaseCommand, CommandError

from casino_platform.errors import DomainError
from sessions.models import PlatformSwitch
from sessions.services import platform_switch_set


class Command(BaseCommand):
    help = (
        "Flip an operator switch without a deploy. no_new_sessions: launches answer 503. "
        "maintenance: launches and debits answer 503 MAINTENANCE; credits and rollbacks are always accepted."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", choices=PlatformSwitch.Name.values)
        parser.add_argument("state", choices=["on", "off", "status"])
        parser.add_argument("--reason", default="")

    def handle(self, *args, name, state, reason, **options):
        if state == "status":
            on = PlatformSwitch.objects.filter(name=name, is_on=True).exists()
            self.stdout.write(f"{name} is {'on' if on else 'off'}")
            return
        try:
            platform_switch_set(name=name, is_on=state == "on", changed_by="manage.py", reason=reason)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"{name} is now {state}"))
