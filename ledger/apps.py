from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from django.db.models.signals import pre_migrate

        from . import checks  # noqa: F401 - registers the database checks
        from .migration_guards import refuse_unapplying_protections

        pre_migrate.connect(refuse_unapplying_protections, sender=self, dispatch_uid="ledger_refuse_unapplying")
