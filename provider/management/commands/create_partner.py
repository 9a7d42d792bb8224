import getpass

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from casino_platform.errors import DomainError, valid_or_refused
from ledger.settings_audit import setting_event_record, setting_update_or_create
from provider.crypto import encrypt_secret
from provider.models import TIMEOUT_MAX_MS, PartnerCasino


class Command(BaseCommand):
    help = (
        "Register (or update) a partner casino whose wallet our games call. The secret they issued us is "
        "read from --secret-env VAR or asked for interactively, so it never lands in shell history."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--base-url", required=True, help="e.g. https://casino.example")
        parser.add_argument("--provider-code", required=True, help="Our X-Provider-Id at the partner.")
        parser.add_argument("--secret-env", help="Name of an environment variable holding the secret.")
        # Written only when given: an update (a new secret, say) keeps the timeouts set before.
        parser.add_argument("--connect-timeout-ms", type=int, help="Default 1000 for a new partner.")
        parser.add_argument("--read-timeout-ms", type=int, help="Default 5000 for a new partner.")

    def handle(self, *args, name, base_url, provider_code, secret_env, connect_timeout_ms, read_timeout_ms, **opts):
        import os

        timeouts = {
            field: value
            for field, value in (("connect_timeout_ms", connect_timeout_ms), ("read_timeout_ms", read_timeout_ms))
            if value is not None
        }
        for field, value in timeouts.items():
            if not 1 <= value <= TIMEOUT_MAX_MS:
                option = "--" + field.replace("_", "-")
                raise CommandError(f"{option} is 1..{TIMEOUT_MAX_MS} (milliseconds), not {value}.")
        fields = {"base_url": base_url, "provider_code": provider_code, **timeouts}
        try:  # before the secret is asked for: the model's own checks of what was given
            # The secret is checked apart (it is not asked for yet): left out of the model's checks.
            valid_or_refused(PartnerCasino(name=name, **fields), validate_unique=False, exclude=["secret_encrypted"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        try:
            secret = os.environ.get(secret_env, "") if secret_env else getpass.getpass("Secret the partner issued us: ")
        except EOFError:
            raise CommandError("No secret given, and no terminal to ask on: use --secret-env VAR.") from None
        if not secret:
            raise CommandError("No secret given." + (f" ${secret_env} is empty." if secret_env else ""))
        with transaction.atomic():
            partner, created = setting_update_or_create(
                PartnerCasino,
                changed_by="manage.py",
                name=name,
                defaults={**fields, "secret_encrypted": encrypt_secret(secret)},
            )
            setting_event_record(obj=partner, event="signing_secret", value="set", changed_by="manage.py")
        self.stdout.write(self.style.SUCCESS(f"Partner {partner.name} {'created' if created else 'updated'}."))
