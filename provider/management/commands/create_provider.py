from django.core.management.base import BaseCommand, CommandError

from casino_platform.errors import DomainError
from provider.services import provider_create


class Command(BaseCommand):
    help = "Register a game provider and print its signing secret (shown once, never again)."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Provider code, sent as X-Provider-Id (letters, digits, - and _).")
        parser.add_argument("--name", help="Display name (default: the code).")
        parser.add_argument(
            "--allow-ip",
            action="append",
            default=[],
            metavar="IP_OR_CIDR",
            help="Allow calls only from this address or network; repeat, or separate by commas, for more.",
        )
        parser.add_argument("--rate-limit", type=int, default=0, help="Wallet calls per second (0: unlimited).")

    def handle(self, *args, code, name, allow_ip, rate_limit, **options):
        try:
            provider, secret = provider_create(
                code=code,
                name=name or code,
                ip_allowlist=[entry.strip() for given in allow_ip for entry in given.split(",") if entry.strip()],
                rate_limit_per_second=rate_limit,
                changed_by="manage.py",
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Provider {provider.code} created."))
        self.stdout.write(f"Signing secret (store it now; it is not shown again):\n{secret}")
