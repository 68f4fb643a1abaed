import pytest
from django.db import IntegrityError, transaction

from catalog.models import Model, ModelStatus
from tests.factories import make_model, make_provider, make_status

pytestmark = pytest.mark.django_db


def test_provider_slug__duplicate_is_rejected():
    make_provider("openai")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_provider("openai")


def test_model_slug__duplicate_is_rejected_even_across_providers():
    make_model(make_provider("a"), "X", slug="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_model(make_provider("b"), "Y", slug="same")
    assert Model.objects.filter(slug="same").count() == 1


def test_status__duplicate_model_and_region_is_rejected():
    model = make_model(make_provider())
    make_status(model, "eu-west-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_status(model, "eu-west-1")
    make_status(model, "us-east-1")
    assert ModelStatus.objects.filter(model=model).count() == 2


def test_status__region_defaults_to_global():
    model = make_model(make_provider())
    status = ModelStatus.objects.create(model=model, status="degraded")
    assert status.region == "global"


@pytest.mark.parametrize(
    "fields",
    [{"status": "down"}, {"availability": 100.5}, {"availability": -1}, {"error_rate": -0.1}],
)
def test_status__values_outside_the_schema_are_rejected_by_the_database(fields):
    model = make_model(make_provider())
    with pytest.raises(IntegrityError), transaction.atomic():
        make_status(model, **fields)
    assert not ModelStatus.objects.exists()


def test_model__negative_price_is_rejected():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_model(make_provider(), input_price=-1)


def test_provider__delete_with_models_is_refused():
    from django.db.models import ProtectedError

    provider = make_provider()
    make_model(provider)
    with pytest.raises(ProtectedError):
        provider.delete()
