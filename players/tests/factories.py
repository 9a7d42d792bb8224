import factory

from players.models import Player


class PlayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Player
        django_get_or_create = ("player_id",)

    player_id = factory.Sequence(lambda n: f"p_test_{n}")
    display_name = factory.Faker("name")
    country = "MT"
