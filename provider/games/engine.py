"""The sandbox's games: honest, small, and recomputable from the round's seeds.
Stakes and payouts are integer minor units; multipliers are exact fractions."""

from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from itertools import product
from math import prod
from typing import Any

from ledger.money import MAX_AMOUNT

from .rng import RoundRng

DICE_MIN_TARGET, DICE_MAX_TARGET = 2, 96
DICE_RTP = Fraction(98, 100)  # return to player: 98%

# Slot: three reels drawing from these weighted symbols; three of a kind pays the multiplier.
# The table returns exactly 96% of stakes (slot_rtp(); a test holds it below 100%).
SLOT_SYMBOLS: list[tuple[str, int, int]] = [  # (symbol, weight on each reel, 3-of-a-kind multiplier)
    ("cherry", 8, 4),
    ("lemon", 6, 8),
    ("bell", 4, 15),
    ("seven", 2, 80),
]
SLOT_TWO_CHERRIES = 1  # two cherries anywhere give the stake back


@dataclass(frozen=True)
class Outcome:
    payout: int  # minor units, >= 0
    detail: dict[str, Any]


def dice_payout_multiplier(target: int) -> Fraction:
    """Roll 1..100; win when the roll is below `target`; fair odds times the RTP."""
    return DICE_RTP * Fraction(100, target - 1)


def stake_max(*, game: str, target: int = DICE_MIN_TARGET) -> int:
    """The largest stake whose best payout is still an amount the contract allows: a bigger
    win could never be credited (VALIDATION_ERROR) though its stake was taken."""
    if game == "dice":
        best = dice_payout_multiplier(target)
    elif game == "slot":
        best = Fraction(max(SLOT_TWO_CHERRIES, *(m for _, _, m in SLOT_SYMBOLS)))
    else:
        raise ValueError(f"unknown game {game!r}")
    return int(MAX_AMOUNT / best)


@cache  # the table is fixed: summed once per process
def slot_rtp() -> Fraction:
    """The slot's exact return to player, over every combination of the three reels."""
    total = sum(w for _, w, _ in SLOT_SYMBOLS)
    weights = {s: w for s, w, _ in SLOT_SYMBOLS}
    returned = Fraction(0)
    for reels in product(weights, repeat=3):
        returned += Fraction(prod(weights[s] for s in reels), total**3) * _slot_multiplier(list(reels))
    return returned


def play_dice(*, rng: RoundRng, stake: int, target: int) -> Outcome:
    if not DICE_MIN_TARGET <= target <= DICE_MAX_TARGET:
        raise ValueError(f"target must be {DICE_MIN_TARGET}..{DICE_MAX_TARGET}")
    roll = rng.randint(1, 100)
    win = roll < target
    payout = int(stake * dice_payout_multiplier(target)) if win else 0  # floor: never pay a fraction of a cent
    return Outcome(payout, {"game": "dice", "roll": roll, "target": target, "win": win})


def _slot_symbol(rng: RoundRng) -> str:
    total = sum(w for _, w, _ in SLOT_SYMBOLS)
    pick = rng.randint(1, total)
    for symbol, weight, _ in SLOT_SYMBOLS:
        if pick <= weight:
            return symbol
        pick -= weight
    raise AssertionError("unreachable")


def _slot_multiplier(reels: list[str]) -> int:
    if reels[0] == reels[1] == reels[2]:
        return next(m for s, _, m in SLOT_SYMBOLS if s == reels[0])
    if reels.count("cherry") == 2:
        return SLOT_TWO_CHERRIES
    return 0


def play_slot(*, rng: RoundRng, stake: int) -> Outcome:
    reels = [_slot_symbol(rng) for _ in range(3)]
    multiplier = _slot_multiplier(reels)
    return Outcome(stake * multiplier, {"game": "slot", "reels": reels, "multiplier": multiplier})


def replay(*, game: str, server_seed: str, client_seed: str, nonce: int, stake: int, **params: Any) -> Outcome:
    """Recompute a round's outcome from its audit record."""
    rng = RoundRng(server_seed=server_seed, client_seed=client_seed, nonce=nonce)
    if game == "dice":
        return play_dice(rng=rng, stake=stake, target=int(params["target"]))
    if game == "slot":
        return play_slot(rng=rng, stake=stake)
    raise ValueError(f"unknown game {game!r}")
