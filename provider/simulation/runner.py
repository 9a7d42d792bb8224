"""`manage.py simulate`: real rounds over HTTP against a partner's wallet, optionally with
chaos, then a reconciliation of what our provider side recorded against the partner's
balances, to the cent."""

import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from players.models import Player
from players.services import player_create
from provider.models import Game, OutboundTransaction, PartnerCasino, PartnerPlayer
from sessions.services import session_create
from wallet.services import wallet_deposit

from ..games.rng import seeded_server_seed
from ..games.services import game_round_play, partner_player_get_or_create
from ..outbound.client import outbound_sessions_close
from ..outbound.services import NOT_PROCESSED_CODES, OUTBOX_KINDS, DebitRefused, outbound_deliver
from .chaos import ChaosClient, MeasuredClient

SIM_FUNDING = 1_000_000  # minor units each simulated player starts with on our own platform


@dataclass
class SimPlayer:
    partner_player: PartnerPlayer
    tokens: dict[str, str]  # game -> session token
    currency: str
    start_balance: int


@dataclass
class SimulationReport:
    rounds: int = 0
    rounds_refused: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    debits: int = 0
    credits: int = 0
    rollbacks: int = 0
    chaos: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[int] = field(default_factory=list)
    players: list[dict] = field(default_factory=list)
    undelivered: int = 0

    @property
    def reconciled(self) -> bool:
        return self.undelivered == 0 and all(p["difference"] == 0 for p in self.players)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        if len(self.latencies_ms) == 1:
            return float(self.latencies_ms[0])
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


def _own_platform_players(partner: PartnerCasino, count: int, prefix: str) -> list[SimPlayer]:
    """Players, funded wallets and launched sessions on this platform (the default partner)."""
    if partner.name != settings.SANDBOX_PARTNER:
        # Its players, their money and sessions are made here: another casino knows none of them.
        raise RuntimeError(
            f"simulate plays players it makes on this platform, so only through the partner "
            f"{settings.SANDBOX_PARTNER!r} (this platform's own wallet API), not {partner.name!r}."
        )
    games = {g.game_id.split(":")[1]: g for g in Game.objects.filter(game_id__in=["sandbox:dice", "sandbox:slot"])}
    if len(games) < 2:
        raise RuntimeError("The sandbox games are missing: run `manage.py seed_sandbox` first.")
    players = []
    for i in range(count):
        player_id = f"{prefix}{i}"
        player = Player.objects.filter(player_id=player_id).first() or player_create(
            player_id=player_id, display_name=f"Simulated {i}", country="MT", changed_by="simulate", reason="sim"
        )
        wallet_deposit(
            player_id=player_id,
            currency="EUR",
            amount=SIM_FUNDING,
            created_by="simulate",
            reason="simulation funding",
            reference=f"sim-funding-{player_id}",
        )
        tokens = {}
        for name, game in games.items():
            _, tokens[name] = session_create(provider=game.provider, player=player, game=game, currency="EUR")
        players.append(
            SimPlayer(partner_player_get_or_create(partner=partner, partner_player_id=player_id), tokens, "EUR", 0)
        )
    return players


def _partner_balance(client: MeasuredClient, player: SimPlayer) -> int:
    answer = client.call("balance", {"session_token": next(iter(player.tokens.values()))})
    if not answer.accepted:
        raise RuntimeError(f"balance of {player.partner_player.partner_player_id}: {answer.code}")
    return int(answer.body["balance"])


def _deliver_all(
    player_ids: list[int],
    client: MeasuredClient,
    *,
    deadline_s: float,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Deliver every queued credit and rollback of these players, player by player in the
    order given and each player's in the order queued, waiting out retry delays; returns how
    many are still undelivered at the deadline."""
    end = time.monotonic() + deadline_s
    turn = {player_id: n for n, player_id in enumerate(player_ids)}
    while True:
        queued = OutboundTransaction.objects.filter(
            player_id__in=player_ids,
            kind__in=OUTBOX_KINDS,
            status__in=[OutboundTransaction.Status.PENDING, OutboundTransaction.Status.SENDING],
        ).values_list("player_id", "pk")
        pending = [pk for _, pk in sorted(queued, key=lambda row: (turn[row[0]], row[1]))]
        if on_progress:
            on_progress(len(pending))
        if not pending or time.monotonic() > end:
            return len(pending)
        waits, progressed = [], False
        for outbound_id in pending:
            result = outbound_deliver(outbound_id=outbound_id, client=client)
            if result.retry_in:
                waits.append(result.retry_in)
            progressed |= result.status in ("succeeded", "failed", "retry")
        if not progressed:
            # Everything left waits out a retry delay or its turn: wait for the nearest one.
            time.sleep(min([1.0, *waits]) if waits else 0.2)


def simulate(
    *,
    partner: PartnerCasino,
    players: int,
    rounds: int,
    concurrency: int,
    seed: int | None = None,
    chaos: float = 0.0,
    stake: int = 100,
    on_round: Callable[[], None] | None = None,
    on_drain: Callable[[int], None] | None = None,
) -> SimulationReport:
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    client: MeasuredClient = (
        ChaosClient(partner, probability=chaos, rng=random.Random(seed + 1)) if chaos else MeasuredClient(partner)
    )
    honest = MeasuredClient(partner)  # for the balances of the reconciliation, never faulty
    # Any answer, a refusal included, shows the partner serving: before players are funded.
    # One that refuses our calls themselves (our secret, id, clock or address, or our provider
    # switched off there) would refuse every round: said now, before any player is funded.
    probe = honest.call("balance", {"session_token": ""})
    if probe.code in NOT_PROCESSED_CODES:
        raise RuntimeError(
            f"The partner {partner.name!r} refuses our calls: {probe.code} ({probe.body.get('message', '')}). "
            "Nothing was played. Run `manage.py seed_sandbox` with these settings (it stores the sandbox's "
            "secret again) and check that the sandbox provider is enabled (`manage.py disable_provider sandbox "
            "--enable`)."
        )
    sim_players = _own_platform_players(partner, players, prefix=f"sim_{seed}_")
    player_ids = [p.partner_player.pk for p in sim_players]
    # A rerun with the same seed reuses players: settle what an earlier run left queued first,
    # then measure only this run's movements.
    _deliver_all(player_ids, honest, deadline_s=120, on_progress=on_drain)
    first_id = OutboundTransaction.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for p in sim_players:
        p.start_balance = _partner_balance(honest, p)
    report = SimulationReport()
    lock = threading.Lock()
    plan: list[list[tuple[int, str, int]]] = [[] for _ in sim_players]  # per player: (round no, game, target)
    for n in range(rounds):
        plan[n % len(sim_players)].append((n, rng.choice(["dice", "slot"]), rng.randint(2, 96)))

    def play_player(index: int) -> None:
        player = sim_players[index]
        try:
            for n, game, target in plan[index]:
                try:
                    game_round_play(
                        partner=partner,
                        player=player.partner_player,
                        session_token=player.tokens[game],
                        game=game,
                        stake=stake,
                        currency=player.currency,
                        target=target,
                        client_seed=f"sim-{seed}",
                        server_seed=seeded_server_seed(seed, n),
                        nonce=n,
                        client=client,
                    )
                except DebitRefused as refused:
                    with lock:
                        report.rounds_refused += 1
                        report.refusals[refused.code] += 1
                with lock:
                    report.rounds += 1
                if on_round:
                    on_round()
        finally:
            connection.close()
            outbound_sessions_close()

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(play_player, range(len(sim_players))))

    # Chaos delivers some credits out of order: shuffle who goes first, order per player holds.
    rng.shuffle(player_ids)
    report.undelivered = _deliver_all(player_ids, client, deadline_s=120, on_progress=on_drain)

    transactions = OutboundTransaction.objects.filter(player_id__in=player_ids, id__gt=first_id)
    report.debits = transactions.filter(kind="debit").count()
    report.credits = transactions.filter(kind="credit").count()
    report.rollbacks = transactions.filter(kind="rollback").count()
    report.latencies_ms = list(client.latencies_ms)
    if isinstance(client, ChaosClient):
        report.chaos = client.injected
    for p in sim_players:
        moved = _provider_side_total(p.partner_player, after_id=first_id)
        end = _partner_balance(honest, p)
        report.players.append(
            {
                "player_id": p.partner_player.partner_player_id,
                "start": p.start_balance,
                "end": end,
                "provider_side": moved,
                "difference": (end - p.start_balance) - moved,
            }
        )
    outbound_sessions_close()  # this thread is done with the partner too
    return report


def _provider_side_total(player: PartnerPlayer, *, after_id: int) -> int:
    """The change in this player's partner balance that our provider side's records explain:
    accepted debits out, accepted credits in, and rollbacks that returned an accepted debit.
    A debit of unknown outcome nets to zero once its rollback is answered: `rolled_back`
    (the partner had taken it and gave it back) or `tombstone` (it never arrived)."""
    rows = list(
        OutboundTransaction.objects.filter(player=player, id__gt=after_id).values_list(
            "kind", "status", "amount", "partner_status", "transaction_id", "reference_transaction_id"
        )
    )
    debit_status = {tx: status for kind, status, _, _, tx, _ in rows if kind == "debit"}
    total = 0
    for kind, status, amount, partner_status, _, reference in rows:
        if status != OutboundTransaction.Status.SUCCEEDED:
            continue
        if kind == "debit":
            total -= amount
        elif kind == "credit":
            total += amount
        elif partner_status == "rolled_back" and debit_status.get(reference) == OutboundTransaction.Status.SUCCEEDED:
            total += amount
    return total
