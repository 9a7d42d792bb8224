import factory

from players.models import Player


class PlayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Player
        django_get_or_create = ("player_id",)

    player_id = factory.Sequence(lambda n: f"p_test_{n}")
    display_name = factory.Faker("name")
    country = "MT"
    # A player who may be paid out, as most are; the KYC tests make the others.
    kyc_status = Player.KycStatus.VERIFIED
