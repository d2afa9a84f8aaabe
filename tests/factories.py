"""factory-boy factories for test data. Money-moving objects go through the services."""

import datetime as dt

import factory

from accounts.models import Cardholder, Category, Unit
from accounts.services import purse_create


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"U{n:03d}")
    name = factory.Sequence(lambda n: f"Unit {n}")


class HolderFactory(factory.django.DjangoModelFactory):
    """A cardholder with a purse (as holder_create would make), without needing an actor."""

    class Meta:
        model = Cardholder
        skip_postgeneration_save = True

    number = factory.Sequence(lambda n: f"2026{n:06d}")
    name = factory.Faker("name", locale="zh_CN")
    id_number = "110101200001011234"
    category = Category.UNDERGRADUATE
    unit = factory.SubFactory(UnitFactory)
    start_date = dt.date(2025, 9, 1)
    end_date = dt.date(2029, 6, 30)
    bank_card_no = "6222020000000000001"

    @factory.post_generation
    def purse(obj, create, extracted, **kwargs):
        if create:
            purse_create(holder=obj, label=obj.number)
