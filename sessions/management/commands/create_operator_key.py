from django.core.management.base import BaseCommand, CommandError

from sessions.models import OperatorApiKey
from sessions.services import operator_api_key_create


class Command(BaseCommand):
    help = "Create an operator API key (Authorization: Token ...) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        if OperatorApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An operator key named {name!r} exists; deactivate it in the admin first.")
        _, key = operator_api_key_create(name=name, changed_by="manage.py")
        self.stdout.write(self.style.SUCCESS(f"Operator key {name} created (store it now; it is not shown again):"))
        self.stdout.write(key)
