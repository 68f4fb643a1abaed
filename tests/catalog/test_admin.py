import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_model, make_provider, make_status

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/catalog/provider/",
    "/admin/catalog/model/",
    "/admin/catalog/modelstatus/",
    "/admin/catalog/model/?is_active__exact=1",
    "/admin/catalog/modelstatus/?status__exact=outage",
    "/admin/catalog/modelstatus/?q=gpt",
]


def build(providers: int, models_per_provider: int, regions: int):
    for p in range(providers):
        provider = make_provider(f"p{p}-{models_per_provider}")
        for m in range(models_per_provider):
            model = make_model(provider, f"M{m}")
            for r in range(regions):
                make_status(model, f"r{r}", status="outage" if r % 2 else "operational")
    return provider, model


def count_queries(client, url) -> int:
    client.get(url)  # warm the per-process caches (content types, sessions)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelist__query_count_does_not_grow_with_rows(admin_client_logged_in, url):
    build(providers=1, models_per_provider=2, regions=2)
    small = count_queries(admin_client_logged_in, url)
    build(providers=3, models_per_provider=6, regions=4)
    large = count_queries(admin_client_logged_in, url)
    assert large == small
    assert large <= 12


def test_change_pages__query_count_does_not_grow_with_inlines(admin_client_logged_in):
    provider, model = build(providers=1, models_per_provider=2, regions=2)
    small = [
        count_queries(admin_client_logged_in, f"/admin/catalog/provider/{provider.pk}/change/"),
        count_queries(admin_client_logged_in, f"/admin/catalog/model/{model.pk}/change/"),
    ]
    provider, model = build(providers=1, models_per_provider=10, regions=8)
    large = [
        count_queries(admin_client_logged_in, f"/admin/catalog/provider/{provider.pk}/change/"),
        count_queries(admin_client_logged_in, f"/admin/catalog/model/{model.pk}/change/"),
    ]
    assert large == small


def test_change_pages__show_the_inlines(admin_client_logged_in):
    provider = make_provider("acme")
    model = make_model(provider, "Rocket", slug="acme-rocket")
    make_status(model, "eu-west-1", status="degraded")
    page = admin_client_logged_in.get(f"/admin/catalog/provider/{provider.pk}/change/")
    assert b"acme-rocket" in page.content
    page = admin_client_logged_in.get(f"/admin/catalog/model/{model.pk}/change/")
    assert b"eu-west-1" in page.content
    assert b"degraded" in page.content


@pytest.mark.parametrize("url", [*CHANGELISTS[:3], "/admin/"])
def test_admin__anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.fixture
def statuses_to_search():
    acme = make_provider("acme")
    rocket, jet = (
        make_model(acme, "Rocket", slug="acme-rocket"),
        make_model(acme, "Jet", slug="acme-jet"),
    )
    other = make_model(make_provider("zeta"), "Eu West", slug="zeta-eu-west")
    for model in (rocket, jet, other):
        for region in ("global", "eu-west-1"):
            make_status(model, region)


def searched(client, term) -> set[str]:
    from catalog.admin import ModelStatusAdmin

    response = client.get("/admin/catalog/modelstatus/", {"q": term})
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) <= ModelStatusAdmin.list_per_page
    return {f"{status.model.slug}@{status.region}" for status in rows}


@pytest.mark.parametrize("model_ids_max", [5000, 1])
@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("rocket", {"acme-rocket@global", "acme-rocket@eu-west-1"}),
        ("ACME-J", {"acme-jet@global", "acme-jet@eu-west-1"}),
        ("eu-west-1", {"acme-rocket@eu-west-1", "acme-jet@eu-west-1", "zeta-eu-west@eu-west-1"}),
        ("eu-west", {"zeta-eu-west@global", "zeta-eu-west@eu-west-1"}),  # region: exact only
        ("acme global", {"acme-rocket@global", "acme-jet@global"}),  # every word matches
        ('"acme-rocket"', {"acme-rocket@global", "acme-rocket@eu-west-1"}),
        ("nothing", set()),
    ],
)
def test_status_search__model_slug_contains_or_region_is(
    admin_client_logged_in, statuses_to_search, monkeypatch, model_ids_max, term, expected
):
    """The same answers whether the matching models are looked up first or joined (many)."""
    from catalog.admin import ModelStatusAdmin

    monkeypatch.setattr(ModelStatusAdmin, "MODEL_IDS_MAX", model_ids_max)
    assert searched(admin_client_logged_in, term) == expected
