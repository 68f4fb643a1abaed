"""Small builders for catalog rows in tests (plain ORM, real database)."""

import datetime as dt
import itertools

from catalog.models import Model, ModelStatus, Provider

_seq = itertools.count(1)
CHECKED = dt.datetime(2025, 8, 14, 13, 2, 45, 715000, tzinfo=dt.UTC)


def make_provider(slug=None, **fields) -> Provider:
    n = next(_seq)
    slug = slug or f"provider-{n}"
    values = {"name": slug.title(), "website_url": f"https://{slug}.example.com"} | fields
    return Provider.objects.create(slug=slug, **values)


def make_model(provider, name=None, **fields) -> Model:
    n = next(_seq)
    name = name or f"Model {n}"
    slug = fields.pop("slug", f"{provider.slug}-{name}".lower().replace(" ", "-"))
    values = {"source_id": f"src-{n}", "modalities": ["text"], "capabilities": ["chat"]} | fields
    return Model.objects.create(provider=provider, slug=slug, name=name, **values)


def make_status(model, region="global", **fields) -> ModelStatus:
    values = {"status": "operational", "availability": 99.5, "checked_at": CHECKED} | fields
    return ModelStatus.objects.create(model=model, region=region, **values)
