import factory

from ledger.models import Currency


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "EUR"
    name = factory.LazyAttribute(lambda o: o.code)
    exponent = 2
