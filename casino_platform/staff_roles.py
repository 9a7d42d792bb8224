"""The back office's roles: four Django groups the platform defines, so that an operator gives
a member of staff a job's permissions by ticking one group on their user, not by picking
forty permissions by hand (and, in a hurry, ticking "superuser").

Each role holds what its job needs and no more. Money leaves only through Finance (moving it,
paying withdrawals, approving another's staff movement); players' state changes through
Support and Compliance; providers, partners, keys and switches through Integrations.
Only Compliance changes a player's KYC status (`players.change_kyc`), which decides whether
they are paid, and moves a country once recorded, which decides the games they may launch.
Nobody approves their own staff movement whatever they hold: the database refuses it.

In no role: ending a self-exclusion or time-out early (`players.lift_restriction`), whether
anybody may being the operator's policy, with its regulator; and changing an operator API
key's scopes (`game_sessions.grant_scopes`), which decide whether a key moves money or
verifies players. Each is given to a named user or a group of the operator's own.

`manage.py staff_roles` shows where the groups differ from these definitions, `--apply` makes
them so (what it added and removed is printed), and `--check` fails while they differ. A group
of another name is the operator's and left alone."""

from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q


@dataclass(frozen=True)
class StaffRole:
    name: str
    job: str
    permissions: frozenset[str]  # "app_label.codename"


def _each(action: str, *models: str) -> set[str]:
    """`_each("view", "players.player")` -> {"players.view_player"}."""
    return {f"{label}.{action}_{model}" for label, model in (m.split(".") for m in models)}


_PLAYER_LIMITS = (
    "players.losslimit",
    "players.wagerlimit",
    "players.depositlimit",
    "players.sessiontimelimit",
    "players.dailyplaytimelimit",
)
# What any member of staff reads to explain a player's money: the player, their wallets,
# sessions and rounds, and the journal behind each balance.
_A_PLAYERS_MONEY = (
    "players.player",
    "players.playerauditlog",
    *_PLAYER_LIMITS,
    "wallet.wallet",
    "wallet.withdrawal",
    "wallet.withdrawalevent",
    "wallet.staffmovement",
    "wallet.rollbacktombstone",
    "game_sessions.gamesession",
    "game_sessions.round",
    "ledger.journaltransaction",
    "ledger.entry",
    "ledger.account",
    "ledger.currency",
    "provider.provider",
    "provider.game",
)

# What Integrations reads and changes: the platform's side of its providers and partners.
_INTEGRATIONS_SETTINGS = (
    "provider.provider",
    "provider.game",
    "provider.partnercasino",
    "provider.outboundtransaction",
    "game_sessions.platformswitch",
    "game_sessions.operatorapikey",
)

ROLES: tuple[StaffRole, ...] = (
    StaffRole(
        name="Support",
        job="Answers players: finds them, their money, sessions, rounds and history; blocks and unblocks, "
        "closes sessions and sets the limits a player asks for. Moves no money and verifies nobody.",
        permissions=frozenset(
            _each("view", *_A_PLAYERS_MONEY)
            | _each("change", "players.player", *_PLAYER_LIMITS, "game_sessions.gamesession")
        ),
    ),
    StaffRole(
        name="Finance",
        job="Pays out and proves the books: reviews withdrawals, moves money, approves a colleague's staff "
        "movements, sets the currencies' thresholds, exports the ledger's reports and reads reconciliation.",
        permissions=frozenset(
            _each("view", *_A_PLAYERS_MONEY)
            | _each(
                "view",
                "wallet.staffdaytotal",
                "ledger.idempotencyrecord",
                "ledger.reconcilerun",
                "ledger.settingchange",
                "ledger.exportrecord",
            )
            | _each("change", "wallet.wallet", "wallet.withdrawalevent", "ledger.currency")
            | {"wallet.review_withdrawal", "wallet.approve_staffmovement", "ledger.export_reports"}
        ),
    ),
    StaffRole(
        name="Compliance",
        job="Responsible gambling, KYC and anti-money-laundering: works the monitoring alerts, changes players' "
        "KYC, status and restrictions, sets limits and closes sessions. Moves no money.",
        permissions=frozenset(
            _each("view", *_A_PLAYERS_MONEY, "wallet.monitoringalert")
            | _each("change", "players.player", *_PLAYER_LIMITS, "game_sessions.gamesession")
            | {"wallet.review_monitoringalert", "players.change_kyc"}
        ),
    ),
    StaffRole(
        name="Integrations",
        job="Connects game providers and partner casinos: their settings, providers' secret rotation, the "
        "catalogue, deliveries to partners, operator API keys (not their scopes) and the platform's switches. "
        "Sees no player's wallet.",
        permissions=frozenset(
            _each("view", *_INTEGRATIONS_SETTINGS, "provider.providersecret", "provider.gameround")
            | _each("view", "provider.outboundattempt", "ledger.settingchange")
            | _each("change", *_INTEGRATIONS_SETTINGS)
            # Not a partner casino: `manage.py create_partner` gives it the secret it signs with.
            | _each("add", "provider.provider", "provider.game")
        ),
    ),
)


@dataclass(frozen=True)
class RoleDrift:
    """How a group stands against its role: `missing` is granted by the role and not held,
    `extra` held and not granted. A group that does not exist has `exists` false. `grants`
    are the role's permissions as rows, found once for the check and for `--apply`."""

    role: StaffRole
    exists: bool
    missing: frozenset[str]
    extra: frozenset[str]
    members: int
    grants: tuple[Permission, ...]

    @property
    def differs(self) -> bool:
        return not self.exists or bool(self.missing or self.extra)


def _permissions(names: frozenset[str]) -> list[Permission]:
    """The permissions named, each found once; a name no installed model has is an error in
    the definitions (or a migration not yet run), never skipped."""
    query = Q()
    for name in names:
        label, codename = name.split(".")
        query |= Q(content_type__app_label=label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type")) if names else []
    unknown = names - {_name(p) for p in found}
    if unknown:
        raise LookupError(f"No such permission (are the migrations applied?): {', '.join(sorted(unknown))}")
    return found


def _name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def staff_roles_drift() -> list[RoleDrift]:
    """Each role's group as it stands in the database."""
    drifts = []
    for role in ROLES:
        grants = tuple(_permissions(role.permissions))  # the definitions name only permissions that exist
        group = Group.objects.filter(name=role.name).first()
        held = frozenset(_name(p) for p in group.permissions.select_related("content_type")) if group else frozenset()
        drifts.append(
            RoleDrift(
                role=role,
                exists=group is not None,
                missing=role.permissions - held,
                extra=held - role.permissions,
                members=group.user_set.count() if group else 0,
                grants=grants,
            )
        )
    return drifts


@transaction.atomic
def staff_roles_apply() -> list[RoleDrift]:
    """Create each role's group where missing and give it exactly its role's permissions.
    Answers how each stood before, so that the caller can say what changed."""
    before = staff_roles_drift()
    for drift in before:
        if drift.differs:
            group, _ = Group.objects.get_or_create(name=drift.role.name)
            group.permissions.set(drift.grants)
    return before
