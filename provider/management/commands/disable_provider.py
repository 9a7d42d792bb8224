from django.core.management.base import BaseCommand, CommandError

from provider.models import Provider
from provider.services import provider_set_enabled


class Command(BaseCommand):
    help = "Disable a provider: its wallet calls are refused with 403 PROVIDER_DISABLED. --enable undoes it."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--enable", action="store_true", help="Enable the provider again.")

    def handle(self, *args, code, enable, **options):
        provider = Provider.objects.filter(code=code).first()
        if provider is None:
            raise CommandError(f"No provider {code!r}.")
        provider_set_enabled(provider=provider, is_enabled=enable, changed_by="manage.py")
        self.stdout.write(self.style.SUCCESS(f"Provider {code} {'enabled' if enable else 'disabled'}."))
