from django.core.management.base import BaseCommand, CommandError

from casino_platform.errors import DomainError
from sessions.models import OperatorApiKey
from sessions.services import operator_api_key_create


class Command(BaseCommand):
    help = (
        "Create an operator API key (Authorization: Token ...) and print it once. --scope says what it may call "
        "(lobby, players, cashier, kyc; repeat it for more than one), or --all-scopes."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        granted = parser.add_mutually_exclusive_group(required=True)
        granted.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            choices=OperatorApiKey.Scope.values,
            help="lobby: the catalogue and game sessions; players: registration, limits, history; "
            "cashier: deposits and withdrawals; kyc: setting a player's identity-check status. Repeat for more.",
        )
        granted.add_argument("--all-scopes", action="store_true", help="Every scope: money movements and KYC included.")
        parser.add_argument(
            "--rate-limit",
            type=int,
            default=0,
            metavar="N",
            help="Calls per second it may make (0, the default: no limit).",
        )

    def handle(self, *args, name, scopes, all_scopes, rate_limit, **options):
        if OperatorApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An operator key named {name!r} exists; deactivate it in the admin first.")
        scopes = OperatorApiKey.Scope.values if all_scopes else scopes
        try:
            api_key, key = operator_api_key_create(
                name=name, scopes=scopes, rate_limit_per_second=rate_limit, changed_by="manage.py"
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Operator key {name} created with scopes {', '.join(api_key.scopes)}"
                + (f", at most {rate_limit} calls a second" if rate_limit else "")
                + " (store it now; it is not shown again):"
            )
        )
        self.stdout.write(key)  # last, alone on its line, for scripts
