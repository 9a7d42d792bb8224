from django.core.management.base import BaseCommand, CommandError

from provider.models import Provider
from provider.services import RotationUnfinished, provider_secret_revoke_all_but_newest, provider_secret_rotate


class Command(BaseCommand):
    help = (
        "Generate a new signing secret for a provider. The previous secret stays valid (two are active "
        "during rotation) until --finish, or the next rotation, revokes it."
    )

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument(
            "--finish", action="store_true", help="Revoke every secret but the newest (the provider has switched)."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Rotate although two secrets are active already: the older is revoked at once.",
        )

    def handle(self, *args, code, finish, force, **options):
        provider = Provider.objects.filter(code=code).first()
        if provider is None:
            raise CommandError(f"No provider {code!r}.")
        if finish:
            revoked = provider_secret_revoke_all_but_newest(provider=provider, changed_by="manage.py")
            self.stdout.write(self.style.SUCCESS(f"Revoked {revoked} older secret(s) of {code}."))
            return
        try:
            secret = provider_secret_rotate(provider=provider, changed_by="manage.py")
        except RotationUnfinished as exc:
            if not force:
                raise CommandError(f"{exc.message} (--finish, --force)") from None
            secret = provider_secret_rotate(provider=provider, changed_by="manage.py", force=True)
            self.stdout.write(self.style.WARNING(f"Revoked {exc.hints[0]}… to make room (--force)."))
        self.stdout.write(self.style.SUCCESS(f"New secret for {code}; the previous one still works until --finish."))
        self.stdout.write(f"Signing secret (store it now; it is not shown again):\n{secret}")
