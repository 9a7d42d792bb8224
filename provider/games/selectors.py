"""Reads of the rounds our games played for partner casinos, for the back office."""

from django.db.models import Q, QuerySet

from ..models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer
from .services import PARTNER_GAMES


def partner_game_ids() -> list[tuple[str, str]]:
    """The game ids a round played for a partner carries ("<its provider code>:<game>"), from
    the partners' few rows rather than from the rounds."""
    codes = sorted(set(PartnerCasino.objects.values_list("provider_code", flat=True)))
    return [(f"{code}:{game}", f"{code}:{game}") for code in codes for game in PARTNER_GAMES]


def _partner_players_named(term: str) -> list[int]:
    # partner_player_once leads with the partner, so every partner is named.
    partners = list(PartnerCasino.objects.values_list("pk", flat=True))
    return list(
        PartnerPlayer.objects.filter(partner_id__in=partners, partner_player_id=term).values_list("pk", flat=True)
    )


def game_round_search(queryset: QuerySet[GameRound], term: str) -> QuerySet[GameRound]:
    """Staff's search of the rounds by a round id or a partner's player id, each by its index:
    the player's keys first (partner_player_once leads with the partner, so every partner is
    named), then their rounds by the player's key. The plain OR of the round id and the
    joined player's id read every round."""
    term = term.strip()
    if not term:
        return queryset
    return queryset.filter(Q(round_id=term) | Q(player_id__in=_partner_players_named(term)))


def outbound_search(queryset: QuerySet[OutboundTransaction], term: str) -> QuerySet[OutboundTransaction]:
    """Staff's search of what our games sent partners: by its transaction id, a partner's
    player id, a round id, or the id of the debit a rollback reverses, each along an index.
    A rollback is found by its debit's round (the reference has no index of its own); the
    plain OR over the joined player and round read every transaction."""
    term = term.strip()
    if not term:
        return queryset
    rounds = list(GameRound.objects.filter(round_id=term).values_list("pk", flat=True))
    referenced = list(OutboundTransaction.objects.filter(transaction_id=term).values_list("round_id", flat=True))
    return queryset.filter(
        Q(transaction_id=term)
        | Q(player_id__in=_partner_players_named(term))
        | Q(round_id__in=rounds)
        | Q(round_id__in=referenced, reference_transaction_id=term)
    )
