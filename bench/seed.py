"""Seed the benchmark database fast: players, funded wallets with balanced deposit journals,
and live game sessions with known tokens (bench-token-<n>)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ledger.models import Account, Entry, JournalTransaction
from ledger.services import currency_ensure_defaults, ledger_account_get_or_create
from players.models import Player
from provider.models import Game, Provider
from provider.services import provider_secret_ensure
from sessions.models import GameSession
from sessions.services import session_token_hash
from wallet.models import Wallet

BATCH = 2_000


def token_for(n: int) -> str:
    return f"bench-token-{n}"


def player_id_for(n: int) -> str:
    return f"bench_{n}"


@transaction.atomic
def seed(*, players: int, balance: int, hot_balance: int, secret: str) -> None:
    currency_ensure_defaults()
    provider, _ = Provider.objects.get_or_create(code="sandbox", defaults={"name": "Sandbox"})
    provider_secret_ensure(provider=provider, secret=secret)
    game, _ = Game.objects.get_or_create(
        game_id="sandbox:dice", defaults={"provider": provider, "name": "Dice", "game_type": Game.Type.TABLE}
    )
    cash_in = ledger_account_get_or_create(key="cash_in:EUR", kind=Account.Kind.CASH_IN, currency="EUR")
    now = timezone.now()
    for start in range(0, players, BATCH):
        numbers = range(start, min(players, start + BATCH))
        rows = Player.objects.bulk_create(
            [Player(player_id=player_id_for(n), display_name=f"Bench {n}") for n in numbers]
        )
        accounts = Account.objects.bulk_create(
            [
                Account(key=f"wallet:{player_id_for(n)}:EUR", kind=Account.Kind.PLAYER_WALLET, currency_id="EUR")
                for n in numbers
            ]
        )
        amounts = [hot_balance if n == 0 else balance for n in numbers]
        Wallet.objects.bulk_create(
            [
                Wallet(player=p, currency_id="EUR", balance=a, account=acc)
                for p, acc, a in zip(rows, accounts, amounts, strict=True)
            ]
        )
        journals = JournalTransaction.objects.bulk_create(
            [JournalTransaction(kind="deposit", created_by="bench", memo="bench funding") for _ in numbers]
        )
        entries = []
        for journal, account, amount in zip(journals, accounts, amounts, strict=True):
            entries.append(Entry(transaction=journal, leg=1, account=account, amount=amount, currency_id="EUR"))
            entries.append(Entry(transaction=journal, leg=2, account=cash_in, amount=-amount, currency_id="EUR"))
        Entry.objects.bulk_create(entries)
        GameSession.objects.bulk_create(
            [
                GameSession(
                    token_hash=session_token_hash(token_for(n)),
                    provider=provider,
                    player=p,
                    game=game,
                    currency_id="EUR",
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=12),
                    absolute_expires_at=now + timedelta(hours=12),
                )
                for n, p in zip(numbers, rows, strict=True)
            ]
        )
