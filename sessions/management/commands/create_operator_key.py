from django.core.management.base import BaseCommand, CommandError

from casino_platform.errors import DomainError
from sessions.models import OperatorApiKey
from sessions.services import operator_api_key_create


class Command(BaseCommand):
    help = (
        "Create an operator API key (Authorization: Token ...) and print it once. --scope limits what it may "
        "call (lobby, players, cashier; repeat it for more than one); without it the key holds every scope."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            choices=OperatorApiKey.Scope.values,
            help="lobby: the catalogue and game sessions; players: registration, limits, history; "
            "cashier: deposits and withdrawals. Repeat for more than one.",
        )

    def handle(self, *args, name, scopes, **options):
        if OperatorApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An operator key named {name!r} exists; deactivate it in the admin first.")
        try:
            api_key, key = operator_api_key_create(name=name, scopes=scopes, changed_by="manage.py")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if scopes is None:
            self.stdout.write(
                "It may call every operator endpoint, money movements included. A key kept in the casino's "
                "front end needs only --scope lobby --scope players."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Operator key {name} created with scopes {', '.join(api_key.scopes)} "
                "(store it now; it is not shown again):"
            )
        )
        self.stdout.write(key)  # last, alone on its line, for scripts
