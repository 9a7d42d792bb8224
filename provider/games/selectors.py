"""Reads of the rounds our games played for partner casinos, for the back office."""

from django.db.models import Q, QuerySet

from ..models import GameRound, PartnerCasino, PartnerPlayer
from .services import PARTNER_GAMES


def partner_game_ids() -> list[tuple[str, str]]:
    """The game ids a round played for a partner carries ("<its provider code>:<game>"), from
    the partners' few rows rather than from the rounds."""
    codes = sorted(set(PartnerCasino.objects.values_list("provider_code", flat=True)))
    return [(f"{code}:{game}", f"{code}:{game}") for code in codes for game in PARTNER_GAMES]


def game_round_search(queryset: QuerySet[GameRound], term: str) -> QuerySet[GameRound]:
    """Staff's search of the rounds by a round id or a partner's player id, each by its index:
    the player's keys first (partner_player_once leads with the partner, so every partner is
    named), then their rounds by the player's key. The plain OR of the round id and the
    joined player's id read every round."""
    term = term.strip()
    if not term:
        return queryset
    partners = list(PartnerCasino.objects.values_list("pk", flat=True))
    players = list(
        PartnerPlayer.objects.filter(partner_id__in=partners, partner_player_id=term).values_list("pk", flat=True)
    )
    return queryset.filter(Q(round_id=term) | Q(player_id__in=players))
