"""Provider lookups on the hot path, cached in-process for a few seconds so a wallet call
does not decrypt secrets or reread the registry every time. Writes through the services
clear this process's cache at once; other processes see them within PROVIDER_CACHE_SECONDS.
And the game catalogue: which games a player of a country is offered."""

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db.models import Q

from .crypto import decrypt_secret
from .models import Game, Provider, ProviderSecret

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderAuthInfo:
    provider: Provider
    secrets: tuple[str, ...]  # active, newest first


_cache: dict[str, tuple[float, ProviderAuthInfo | None]] = {}
# Unknown codes are cached too (a misconfigured caller repeats its mistake), so the cache is
# bounded: anyone may send any X-Provider-Id.
CACHE_MAX_ENTRIES = 1024
# Provider.code holds at most 64 characters, and what a header can carry of them is visible
# ASCII: anything else names no provider and is not asked of the database (a NUL byte would
# not even reach it).
_PROVIDER_CODE = re.compile(r"[\x21-\x7e]{1,64}")


def provider_cache_clear() -> None:
    _cache.clear()


def _readable(secrets: Iterable[ProviderSecret]) -> Iterator[str]:
    for secret in secrets:
        try:
            yield decrypt_secret(secret.secret_encrypted)
        except InvalidToken:
            # PROVIDER_SECRET_KEY changed: this secret cannot verify anything. Say so loudly;
            # the provider's calls answer INVALID_SIGNATURE rather than fail.
            logger.error(
                "provider secret %s of %s cannot be decrypted with PROVIDER_SECRET_KEY", secret.pk, secret.provider_id
            )


def provider_auth_info(*, code: str) -> ProviderAuthInfo | None:
    now = time.monotonic()
    hit = _cache.get(code)
    if hit is not None and hit[0] > now:
        return hit[1]
    if not _PROVIDER_CODE.fullmatch(code):
        return None
    if len(_cache) >= CACHE_MAX_ENTRIES:
        # Other threads of this process read and fill the cache meanwhile: copy, and pop.
        for stale in [key for key, (until, _) in list(_cache.items()) if until <= now]:
            _cache.pop(stale, None)
        if len(_cache) >= CACHE_MAX_ENTRIES:
            _cache.clear()
    provider = Provider.objects.filter(code=code).first()
    info = None
    if provider is not None:
        secrets = ProviderSecret.objects.filter(provider=provider, is_active=True).order_by("-created_at", "-id")
        info = ProviderAuthInfo(provider, tuple(_readable(secrets)))
    _cache[code] = (now + settings.PROVIDER_CACHE_SECONDS, info)
    return info


def game_restricted_countries(*, game: Game) -> frozenset[str] | None:
    """The countries the game is not offered in, by itself or its provider; None when either
    list is not a list of codes (written around the admin's checks): then it is offered nowhere,
    rather than everywhere."""
    lists = (game.restricted_countries, game.provider.restricted_countries)
    if not all(isinstance(codes, list) and all(isinstance(code, str) for code in codes) for codes in lists):
        return None
    return frozenset(code.upper() for codes in lists for code in codes)


def games_offered_by(target: Provider | Game) -> Iterable[Game]:
    """The games whose offer follows `target`'s countries: a provider's games, or the game
    itself; each with its provider, whose list game_offered_in reads too."""
    return target.games.select_related("provider") if isinstance(target, Provider) else [target]


def game_offered_in(*, game: Game, country: str) -> bool:
    """Whether a game may be played by a player of `country`: not restricted there by the game
    or its provider. Where either restricts any country, a player whose country is not recorded
    (``""``) is not offered it, since they may be in one of them."""
    restricted = game_restricted_countries(game=game)
    if restricted is None:
        return False
    if not country:
        return not restricted
    return country.upper() not in restricted


def players_not_offered(*, restricted: frozenset[str] | None, country: str) -> Q | None:
    """game_offered_in's rule as a filter on players' `country` (an expression in capitals):
    those a game with these `restricted` countries is not offered to; None for nobody."""
    if restricted is None:
        return Q()  # offered nowhere: everyone
    if not restricted:
        return None
    return Q(**{country: ""}) | Q(**{f"{country}__in": sorted(restricted)})


def game_catalogue(*, country: str | None = None) -> list[Game]:
    """The enabled games of enabled providers, by game id; with `country`, only those offered
    to its players (game_offered_in). Filtered here rather than in SQL: a catalogue is a few
    thousand rows at most, and the lists are JSON, which SQLite cannot search."""
    games = Game.objects.filter(is_enabled=True, provider__is_enabled=True).select_related("provider")
    if country is None:
        return [game for game in games if game_restricted_countries(game=game) is not None]
    return [game for game in games if game_offered_in(game=game, country=country)]


def provider_active_secret_hints(*, provider: Provider) -> list[str]:
    """The hints of the provider's active signing secrets, oldest first."""
    return list(provider.secrets.filter(is_active=True).order_by("created_at", "id").values_list("hint", flat=True))
