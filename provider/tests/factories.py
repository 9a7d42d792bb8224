import factory

from provider.models import Game, Provider


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("code",)

    code = "sandbox"
    name = "Sandbox"


class GameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Game
        django_get_or_create = ("game_id",)

    provider = factory.SubFactory(ProviderFactory)
    game_id = factory.LazyAttribute(lambda o: f"{o.provider.code}:dice")
    name = "Dice"
    game_type = Game.Type.TABLE
