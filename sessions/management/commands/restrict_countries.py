from django.core.management.base import BaseCommand, CommandError

from casino_platform.errors import DomainError
from provider.models import Game, Provider
from sessions.services import restricted_countries_change


def _codes(value: str) -> list[str]:
    return [code for code in value.replace(" ", ",").split(",") if code]


def _listed(codes: list[str]) -> str:
    return ", ".join(codes) if codes else "nowhere"


class Command(BaseCommand):
    help = (
        "Show or change the countries where a provider's games, or one game, are not offered, as "
        "the admin's page does: the change goes to the settings trail and the open game sessions "
        "of players it no longer allows are closed. Without --set, --add, --remove or --clear it "
        "shows the lists."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--provider", metavar="CODE", help="A provider: all its games.")
        target.add_argument("--game", metavar="GAME_ID", help="One game, e.g. sandbox:slot.")
        parser.add_argument("--set", dest="whole_list", metavar="CODES", help='The whole list, e.g. "GB,US".')
        parser.add_argument("--add", metavar="CODES", default="", help="Countries to add, e.g. US or GB,US.")
        parser.add_argument("--remove", metavar="CODES", default="", help="Countries to take off the list.")
        parser.add_argument("--clear", action="store_true", help="Offer it everywhere again (empty list).")
        parser.add_argument("--reason", default="", help="Kept in the settings trail with the change.")

    def handle(self, *args, provider, game, whole_list, add, remove, clear, reason, **options):
        if clear and whole_list is not None:
            raise CommandError("--clear and --set both give the whole list: use one.")
        if whole_list is not None and not _codes(whole_list):
            # An unset variable in a script ("--set $LIST") would offer the games everywhere.
            raise CommandError("--set was given no country: to offer everywhere again, say --clear.")
        target = self._target(provider=provider, game=game)
        replace = [] if clear else None if whole_list is None else _codes(whole_list)
        if replace is None and not add and not remove:
            self._show(target)
            return
        try:
            before, after, closed = restricted_countries_change(
                target=target,
                replace=replace,
                add=_codes(add),
                remove=_codes(remove),
                changed_by="manage.py",
                reason=reason,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        name = f"Provider {target.code}'s games" if isinstance(target, Provider) else f"Game {target.game_id}"
        if after == before:
            self.stdout.write(f"{name}: not offered in {_listed(after)}, unchanged.")
            return
        self.stdout.write(self.style.SUCCESS(f"{name}: not offered in {_listed(after)} (before: {_listed(before)})."))
        self.stdout.write(f"Closed {closed} open game session(s) of players it is not offered to.")

    @staticmethod
    def _target(*, provider: str | None, game: str | None) -> Provider | Game:
        if provider is not None:
            found = Provider.objects.filter(code=provider).first()
            if found is None:
                raise CommandError(f"No provider {provider!r}.")
            return found
        found_game = Game.objects.select_related("provider").filter(game_id=game).first()
        if found_game is None:
            raise CommandError(f"No game {game!r}.")
        return found_game

    def _show(self, target: Provider | Game) -> None:
        if isinstance(target, Provider):
            self.stdout.write(f"Provider {target.code}: not offered in {_listed(target.restricted_countries)}")
            for game in target.games.order_by("game_id"):
                own = game.restricted_countries
                self.stdout.write(
                    f"  {game.game_id}: " + (f"also not in {_listed(own)}" if own else "nothing of its own")
                )
            return
        self.stdout.write(
            f"Game {target.game_id}: not offered in {_listed(target.restricted_countries)}, "
            f"nor where its provider {target.provider.code} is not: {_listed(target.provider.restricted_countries)}"
        )
