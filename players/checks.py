"""System checks of the players' data: run by `manage.py check --database default` and before
`migrate` (so `make run` and a deploy's migration step show them)."""

from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections

UNVERIFIED_WITH_MONEY = "players.W001"


@checks.register(checks.Tags.database)
def unverified_players_with_money_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """With KYC_REQUIRED_FOR_WITHDRAWALS on, an unverified player cannot take their money out.
    On a platform upgraded to it, that is every player who was there before, until the casino
    loads their statuses: say so, with the way out, rather than let the withdrawals find out."""
    if not settings.KYC_REQUIRED_FOR_WITHDRAWALS:
        return []
    from players.models import Player
    from wallet.models import Wallet

    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        with connection.cursor() as cursor:
            # Before `migrate` has made the tables or the column there is nothing to count.
            if Player._meta.db_table not in connection.introspection.table_names(cursor):
                continue
            columns = connection.introspection.get_table_description(cursor, Player._meta.db_table)
            if "kyc_status" not in {column.name for column in columns}:
                continue
        waiting = (
            Wallet.objects.using(alias)
            .filter(balance__gt=0, player__kyc_status=Player.KycStatus.UNVERIFIED)
            .values("player")
            .distinct()
            .count()
        )
        if waiting:
            messages.append(
                checks.Warning(
                    f"{waiting} unverified player(s) hold money in database '{alias}': with "
                    "KYC_REQUIRED_FOR_WITHDRAWALS on, their withdrawals are refused (KYC_REQUIRED).",
                    hint="Load their statuses (manage.py import_kyc FILE --reason ...; or kyc_status in PUT "
                    "/api/v1/players/{player_id}), or set KYC_REQUIRED_FOR_WITHDRAWALS=false if the casino "
                    "checks identity before it asks for a withdrawal.",
                    id=UNVERIFIED_WITH_MONEY,
                )
            )
    return messages
