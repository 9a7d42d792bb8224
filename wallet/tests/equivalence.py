"""Two identical worlds, one per path, for the tests that hold a wallet call's PostgreSQL
function to its Python path: the same answers, the same state left behind."""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from django.test import override_settings
from hypothesis import event
from hypothesis import strategies as st

from casino_platform import clock
from casino_platform.errors import DomainError
from ledger.models import Account, Entry, IdempotencyRecord, JournalTransaction
from ledger.tests.factories import CurrencyFactory
from players.models import LossLimit, Player, WagerLimit
from players.tests.factories import PlayerFactory
from provider.tests.factories import GameFactory, ProviderFactory
from sessions.models import GameSession, Round
from sessions.services import session_token_hash
from wallet.models import RollbackTombstone, Wallet
from wallet.services import (
    CreditRequest,
    DebitRequest,
    RollbackRequest,
    WalletResult,
    wallet_credit,
    wallet_debit,
    wallet_rollback,
)
from wallet.tests.factories import funded_wallet

# A minute before the end of a day, of an ISO week (Sunday) and of a month: the loss and
# wager limits' periods roll over while a sequence runs.
STARTS = [
    datetime(2026, 11, 20, 23, 59, 0, tzinfo=UTC),
    datetime(2026, 11, 22, 23, 59, 0, tzinfo=UTC),
    datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC),
]
PLAYERS = ("ok", "poor", "blocked", "excluded", "ended", "cooling", "lapsed", "timeout", "limited", "wagering")
SESSIONS = (*PLAYERS, "expired", "closed", "offgame", "slot", "usd", "usd-nowallet", "stale", "unknown")
_worlds = itertools.count()

debit_step = st.fixed_dictionaries(
    {
        "session": st.sampled_from(SESSIONS),
        "game": st.sampled_from(["dice", "dice", "dice", "slot"]),
        "round": st.sampled_from(["r1", "r1", "r2", "r3", "r-closed", "r-other", "r-usd"]),
        "amount": st.sampled_from([1, 40, 100, 250, 5_000, 20_000]),
        # "new" is a fresh id; the others recur, with the same or another payload.
        "tx": st.sampled_from(["new", "new", "new", "new", "t1", "t2", "tomb"]),
        "repeat": st.sampled_from([False] * 5 + [True]),  # the previous request again, as sent
        "close": st.booleans(),
        "player": st.sampled_from([None, None, None, "self", "other"]),
        # XYZ is no currency of the platform's: refused alike, and no account is left behind.
        "currency": st.sampled_from(["EUR", "EUR", "EUR", "USD", "XYZ"]),
        "maintenance": st.sampled_from([False] * 8 + [True]),
        # From 23:59 a limit's period resets under way; 20 minutes idles sessions out.
        "advance": st.sampled_from([0, 0, 0, 30, 90, 1_200]),
    }
)


def accepted_debit(*, round_id: st.SearchStrategy, transaction_id: st.SearchStrategy) -> st.SearchStrategy:
    """A debit step the platform accepts (live session, funds, EUR), in the rounds and under the
    transaction ids given: the bets that credits and rollbacks settle."""
    return st.fixed_dictionaries(
        {
            "op": st.just("debit"),
            "session": st.just("ok"),
            "game": st.just("dice"),
            "round": round_id,
            "amount": st.just(40),
            "tx": transaction_id,
            "repeat": st.just(False),
            "close": st.just(False),
            "player": st.just(None),
            "currency": st.just("EUR"),
            "advance": st.just(0),
        }
    )


# A credit's step; one in five is a debit instead (op "debit", the debit step's own fields),
# so rounds gain the debits that wins settle.
credit_step = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.just("credit"),
            # ghost is no player of the platform's; a USD credit creates the player's USD wallet.
            "player": st.sampled_from(["ok", "ok", "poor", "blocked", "excluded", "ended", "wagering", "ghost"]),
            "round": st.sampled_from(["r1", "r1", "r2", "r-bet", "r-closed", "r-other", "r-usd"]),
            "reason": st.sampled_from(["win", "win", "win", "cash_out", "prize", "refund", "jackpot"]),
            "amount": st.sampled_from([0, 0, 20, 500]),
            "currency": st.sampled_from(["EUR", "EUR", "EUR", "USD", "XYZ"]),
            "tx": st.sampled_from(["new", "new", "new", "new", "t1", "t2"]),
            "repeat": st.sampled_from([False] * 5 + [True]),
            "close": st.booleans(),
            # Only the session's currency matters to a credit, ended or not.
            "session": st.sampled_from([None, None, None, "ok", "usd", "expired", "unknown"]),
            "advance": st.sampled_from([0, 0, 30]),
        }
    ),
    accepted_debit(round_id=st.sampled_from(["r1", "r2"]), transaction_id=st.just("new")),
)


# A rollback's step, among the debits and credits it refers to (fixed ids, so that a rollback
# can name them): a booked debit, a credit, an unknown id (a tombstone), the World's tombstone.
rollback_step = st.one_of(
    accepted_debit(round_id=st.sampled_from(["r1", "r2"]), transaction_id=st.sampled_from(["d1", "d2", "d3"])),
    accepted_debit(round_id=st.just("r1"), transaction_id=st.just("d1")),
    st.fixed_dictionaries(
        {
            "op": st.just("credit"),
            "player": st.just("ok"),
            "round": st.sampled_from(["r1", "r2"]),
            "reason": st.just("win"),
            "amount": st.sampled_from([0, 20]),
            "currency": st.just("EUR"),
            "tx": st.sampled_from(["c1", "c2"]),
            "repeat": st.just(False),
            "close": st.booleans(),
            "session": st.just(None),
            "advance": st.just(0),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("rollback"),
            "tx": st.sampled_from(["new", "new", "rb1"]),
            "reference": st.sampled_from(["d1", "d1", "d1", "d2", "d3", "c1", "missing", "tomb"]),
            "player": st.sampled_from(["ok", "ok", "ok", "poor", "ghost"]),
            "round": st.sampled_from(["r1", "r1", "r2", "r-bet"]),
            "repeat": st.sampled_from([False] * 4 + [True]),
            "advance": st.just(0),
        }
    ),
    # The provider's usual rollback: d1, by its own player, in its own round.
    st.fixed_dictionaries(
        {
            "op": st.just("rollback"),
            "tx": st.sampled_from(["new", "new", "rb1"]),
            "reference": st.just("d1"),
            "player": st.just("ok"),
            "round": st.just("r1"),
            "repeat": st.sampled_from([False] * 4 + [True]),
            "advance": st.just(0),
        }
    ),
)


class World:
    """One provider with its games, players in every state, sessions and rounds; `tag`
    makes its ids unique, and `normal()` takes the tag out again for comparison."""

    def __init__(self, now: datetime):
        self.tag = f"w{next(_worlds)}"
        CurrencyFactory(code="USD", exponent=2)
        self.provider = ProviderFactory(code=f"eq-{self.tag}", name=self.tag)
        dice = GameFactory(provider=self.provider, game_id=f"eq-{self.tag}:dice")
        off = GameFactory(provider=self.provider, game_id=f"eq-{self.tag}:off", is_enabled=False)
        # ok's second game: its rounds and dice's are each one game's.
        slot = GameFactory(provider=self.provider, game_id=f"eq-{self.tag}:slot")
        self.players: dict[str, Player] = {}
        for name in PLAYERS:
            player = PlayerFactory(player_id=f"{name}-{self.tag}")
            funded_wallet(player=player, amount=50 if name == "poor" else 10_000)
            self.players[name] = player
        Player.objects.filter(pk=self.players["blocked"].pk).update(status=Player.Status.BLOCKED)
        # Microseconds on purpose: the refusal quotes the instant, formatted as Python does.
        Player.objects.filter(pk=self.players["excluded"].pk).update(
            self_excluded_until=now + timedelta(days=1, microseconds=250)
        )
        # A self-exclusion over, its player yet to ask to play again; and one whose player asked,
        # play resuming while a sequence runs.
        Player.objects.filter(pk=self.players["ended"].pk).update(
            self_excluded_until=now - timedelta(hours=1, microseconds=250)
        )
        # A request dated before the end (a column left behind): counted as none.
        Player.objects.filter(pk=self.players["lapsed"].pk).update(
            self_excluded_until=now - timedelta(hours=1), self_exclusion_resumes_at=now - timedelta(hours=2)
        )
        Player.objects.filter(pk=self.players["cooling"].pk).update(
            self_excluded_until=now - timedelta(days=1),
            self_exclusion_resumes_at=now + timedelta(minutes=10, microseconds=250),
        )
        Player.objects.filter(pk=self.players["timeout"].pk).update(timed_out_until=now + timedelta(hours=1))
        limited = self.players["limited"]
        for period, amount in (("day", 300), ("week", 500), ("month", 1_000)):
            LossLimit.objects.create(player=limited, currency_id="EUR", period=period, amount=amount)
        # Wager limits beside a looser loss limit: the wagers bind first, and the loss limit,
        # read before them, still has its say.
        wagering = self.players["wagering"]
        for period, amount in (("day", 250), ("week", 450), ("month", 900)):
            WagerLimit.objects.create(player=wagering, currency_id="EUR", period=period, amount=amount)
        LossLimit.objects.create(player=wagering, currency_id="EUR", period="week", amount=1_000)
        Player.objects.filter(pk__in=[limited.pk, wagering.pk]).update(has_bet_limits=True)
        self.tokens: dict[str, str] = {"unknown": f"no-such-token-{self.tag}"}
        for name in PLAYERS:
            self._session(name, self.players[name], dice, now)
        ok = self.players["ok"]
        self._session("expired", ok, dice, now, expires_at=now - timedelta(seconds=1))
        self._session("closed", ok, dice, now, closed_at=now)
        self._session("offgame", ok, off, now)
        self._session("slot", ok, slot, now)
        self._session("usd", ok, dice, now, currency="USD")
        self._session("usd-nowallet", self.players["poor"], dice, now, currency="USD")
        # A round is in a wallet of its player's (the database's key on PostgreSQL): ok's USD
        # wallet, empty, holds r-usd; poor has none in USD, for "no wallet in this currency".
        funded_wallet(player=ok, currency="USD", amount=0)
        self._session("stale", ok, dice, now, last_seen_at=now - timedelta(minutes=5))
        Round.objects.create(
            provider=self.provider, round_id="r-closed", player=ok, currency_id="EUR", game_id=dice.game_id,
            status=Round.Status.CLOSED, closed_at=now,
        )  # fmt: skip
        Round.objects.create(
            provider=self.provider, round_id="r-other", player=self.players["poor"], currency_id="EUR",
            game_id=dice.game_id,
        )  # fmt: skip
        Round.objects.create(
            provider=self.provider, round_id="r-usd", player=ok, currency_id="USD", game_id=dice.game_id
        )
        Round.objects.create(
            provider=self.provider, round_id="r-bet", player=ok, currency_id="EUR", game_id=dice.game_id,
            debit_count=1, total_debited=100,
        )  # fmt: skip
        RollbackTombstone.objects.create(
            provider_code=self.provider.code, transaction_id="tomb", rollback_transaction_id="rb-tomb",
            player_id_text=ok.player_id,
        )  # fmt: skip

    def _session(self, name, player, game, now, *, currency="EUR", **fields) -> None:
        token = f"token-{name}-{self.tag}"
        values = {
            "last_seen_at": now,
            "expires_at": now + timedelta(minutes=30),
            "absolute_expires_at": now + timedelta(hours=12),
            **fields,
        }
        GameSession.objects.create(
            token_hash=session_token_hash(token), provider=self.provider, player=player, game=game,
            currency_id=currency, **values,
        )  # fmt: skip
        self.tokens[name] = token

    def normal(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(self.tag, "W")
        if isinstance(value, dict):
            return {k: self.normal(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.normal(v) for v in value]
        return value

    def debit(self, s: dict, trace_id: str) -> tuple:
        player_id = {None: None, "self": None, "other": self.players["poor"].player_id}[s["player"]]
        if s["player"] == "self":
            session = GameSession.objects.filter(token_hash=session_token_hash(self.tokens[s["session"]])).first()
            player_id = session.player.player_id if session else self.players["ok"].player_id
        request = DebitRequest(
            transaction_id=s["tx"],
            round_id=s["round"],
            game_id=f"eq-{self.tag}:{s['game']}",
            amount=s["amount"],
            currency=s["currency"],
            round_closed=s["close"],
            session_token=self.tokens[s["session"]],
            player_id=player_id,
            trace_id=trace_id,
        )
        return self._answer(lambda: wallet_debit(provider=self.provider, request=request))

    def credit(self, s: dict, trace_id: str) -> tuple:
        player_id = self.players[s["player"]].player_id if s["player"] in self.players else f"ghost-{self.tag}"
        request = CreditRequest(
            transaction_id=s["tx"],
            player_id=player_id,
            round_id=s["round"],
            game_id=f"eq-{self.tag}:dice",
            amount=s["amount"],
            currency=s["currency"],
            reason=s["reason"],
            round_closed=s["close"],
            session_token=self.tokens[s["session"]] if s["session"] else None,
            trace_id=trace_id,
        )
        return self._answer(lambda: wallet_credit(provider=self.provider, request=request))

    def rollback(self, s: dict, trace_id: str) -> tuple:
        player_id = self.players[s["player"]].player_id if s["player"] in self.players else f"ghost-{self.tag}"
        request = RollbackRequest(
            transaction_id=s["tx"],
            reference_transaction_id=s["reference"],
            player_id=player_id,
            round_id=s["round"],
            trace_id=trace_id,
        )
        return self._answer(lambda: wallet_rollback(provider=self.provider, request=request))

    def _answer(self, call: Callable[[], WalletResult]) -> tuple:
        """What the caller was told, comparable across worlds."""
        try:
            result = call()
        except DomainError as exc:
            return self.normal(("refused", exc.code, exc.message, exc.details, exc.replayed))
        body = result.as_body()
        if "platform_transaction_id" in body:  # a tombstone has none
            body["platform_transaction_id"] = self._journal_ordinal(body["platform_transaction_id"])
        return self.normal(("accepted", body, result.replayed))

    def _journal_ordinal(self, journal_id: str) -> int:
        ids = list(
            JournalTransaction.objects.filter(provider_code=self.provider.code)
            .order_by("id")
            .values_list("id", flat=True)
        )
        return ids.index(int(journal_id))

    def state(self) -> dict:
        records = []
        for record in IdempotencyRecord.objects.filter(scope=self.provider.code).order_by("key"):
            body = dict(record.response_body or {})
            if "platform_transaction_id" in body:
                body["platform_transaction_id"] = self._journal_ordinal(body["platform_transaction_id"])
            # Fingerprints differ between worlds (the tokens do); equal payloads are what replays test.
            records.append((record.key, record.operation, record.response_status, body))
        journals = JournalTransaction.objects.filter(provider_code=self.provider.code).order_by("id")
        entries = Entry.objects.filter(transaction__in=journals).order_by("transaction_id", "amount")
        return self.normal(
            {
                "balances": sorted(
                    Wallet.objects.filter(player__in=self.players.values()).values_list(
                        "player__player_id", "currency_id", "balance"
                    )
                ),
                "records": records,
                "journal": [
                    (
                        j.kind,
                        j.provider_transaction_id,
                        j.round_id,
                        j.reason,
                        j.trace_id,
                        j.created_by,
                        j.created_at,
                        j.reverses.provider_transaction_id if j.reverses_id else None,
                    )
                    for j in journals
                ],
                "entries": [(e.amount, e.currency_id, e.account.key, e.created_at) for e in entries],
                "rounds": sorted(
                    (
                        r.round_id,
                        r.player.player_id,
                        r.currency_id,
                        r.status,
                        r.debit_count,
                        r.total_debited,
                        r.credit_count,
                        r.total_credited,
                        r.rollback_count,
                        r.opened_at,
                        r.closed_at,
                    )
                    for r in Round.objects.filter(provider=self.provider)
                ),
                "accounts": sorted(
                    Account.objects.filter(key__contains=self.tag).values_list("key", "kind", "currency_id", "name")
                ),
                "tombstones": sorted(
                    RollbackTombstone.objects.filter(provider_code=self.provider.code).values_list(
                        "transaction_id", "rollback_transaction_id", "player_id_text"
                    )
                ),
                "sessions": sorted(
                    (s.player.player_id, s.game.game_id, s.currency_id, s.last_seen_at, s.expires_at)
                    for s in GameSession.objects.filter(provider=self.provider)
                ),
            }
        )


Play = Callable[["World", dict, str], tuple]


def both_paths_alike(start: datetime, steps: list[dict], play: Play, flags: tuple[str, ...]) -> None:
    """Play `steps` in two fresh worlds, one with the `flags` settings on (the database
    functions), one with them off (the Python paths); every answer and the state left must
    be equal. A step may repeat the previous one as sent; "new" transaction ids are made unique."""
    now = start
    with mock.patch.object(clock, "now", lambda: now):
        in_database, in_python = World(now), World(now)
        previous = None
        for n, s in enumerate(steps):
            if s["repeat"] and previous is not None:
                s = previous
            elif s["tx"] == "new":
                s = {**s, "tx": f"t-{n}"}
            previous = s
            now += timedelta(seconds=s["advance"])
            with override_settings(**dict.fromkeys(flags, True)):
                fast = play(in_database, s, f"trace-{n}")
            with override_settings(**dict.fromkeys(flags, False)):
                slow = play(in_python, s, f"trace-{n}")
            assert fast == slow, f"step {n}: {s}"
            outcome = fast[1] if fast[0] == "refused" else fast[1].get("status", "")
            event(f"{s.get('op', 'debit')} {fast[0]} {outcome}{' replayed' if fast[-1] else ''}")
        assert in_database.state() == in_python.state()
