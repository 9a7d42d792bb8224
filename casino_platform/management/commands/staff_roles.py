from django.core.management.base import BaseCommand, CommandError

from casino_platform.staff_roles import RoleDrift, staff_roles_apply, staff_roles_drift


class Command(BaseCommand):
    help = (
        "The back office's roles (Support, Finance, Compliance, Integrations): Django groups a user is put in "
        "under Admin -> Users. Shows how each group stands against its role; --apply creates the groups and "
        "gives each exactly its role's permissions; --check exits 1 while any differs."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--apply", action="store_true", help="create the groups and set their permissions")
        what.add_argument("--check", action="store_true", help="change nothing; exit 1 if a group differs")

    def handle(self, *args, apply: bool, check: bool, **options):
        try:
            drifts = staff_roles_apply() if apply else staff_roles_drift()
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        quiet = options["verbosity"] == 0
        for drift in drifts if not quiet else ():
            self.stdout.write(self._line(drift, applied=apply))
            if not drift.exists:
                continue  # created with all of its role's, or lacking all of them: no list
            for name in sorted(drift.missing):
                self.stdout.write(f"    {'added' if apply else 'lacks'} {name}")
            for name in sorted(drift.extra):
                self.stdout.write(f"    {'removed' if apply else 'also holds'} {name}")
        if apply:
            if not quiet:
                self.stdout.write(self.style.SUCCESS("The roles' groups hold their roles' permissions."))
            return
        differ = [d.role.name for d in drifts if d.differs]
        if differ:
            verb = "differs from its role" if len(differ) == 1 else "differ from their roles"
            message = f"{', '.join(differ)} {verb}: `manage.py staff_roles --apply` sets them."
            if check:
                raise CommandError(message)
            if not quiet:
                self.stdout.write(self.style.WARNING(message))

    @staticmethod
    def _line(drift: RoleDrift, *, applied: bool) -> str:
        role = drift.role
        members = f"{drift.members} member{'s' if drift.members != 1 else ''}"
        if not drift.exists:
            state = "created" if applied else "no such group yet"
        elif drift.differs:
            state = f"{members}, {'set to its role' if applied else 'differs from its role'}"
        else:
            state = f"{members}, as its role"
        return f"{role.name} ({len(role.permissions)} permissions; {state}): {role.job}"
