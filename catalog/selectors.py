"""Reads of the catalog from the database, in the API's shapes.

Each function issues a fixed, small number of queries whatever the page size (no N+1). Text
orderings use the "C" collation on PostgreSQL so that the database sorts exactly as Python does
(by code point), whatever collation the server was created with.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Collate

from catalog import serializers
from catalog.aggregates import ExactMean
from catalog.backends.base import ModelPage, ModelQuery
from catalog.models import GLOBAL_REGION, STATUS_SEVERITY, Model, ModelStatus, Provider

TEXT_ORDER_FIELDS = {"slug", "name", "provider_slug"}


def _text(field: str):
    return Collate(F(field), "C") if connection.vendor == "postgresql" else F(field)


def headline_status_subquery():
    """The status of a model's worst region (``global`` first among equals), per model row."""
    severity = Case(
        *(When(status=value, then=Value(rank)) for value, rank in STATUS_SEVERITY.items()),
        output_field=IntegerField(),
    )
    is_regional = Case(When(region=GLOBAL_REGION, then=Value(0)), default=Value(1))
    rows = (
        ModelStatus.objects.filter(model=OuterRef("pk"))
        .annotate(severity=severity, is_regional=is_regional)
        .order_by("-severity", "is_regional", _text("region"))
        .values("status")[:1]
    )
    return Subquery(rows)


def _filtered_models(query: ModelQuery):
    models = Model.objects.all()
    if query.provider:
        models = models.filter(provider__slug=query.provider)
    if query.is_active is not None:
        models = models.filter(is_active=query.is_active)
    if query.modality:
        models = models.filter(modalities__has_element=query.modality)
    if query.capability:
        models = models.filter(capabilities__has_element=query.capability)
    if query.q:
        models = models.filter(
            Q(name__icontains=query.q)
            | Q(slug__icontains=query.q)
            | Q(description__icontains=query.q)
        )
    if query.status:
        models = models.annotate(headline=headline_status_subquery()).filter(headline=query.status)
    return models


def _ordering(query: ModelQuery):
    field = query.order_field
    expression = _text(field) if field in TEXT_ORDER_FIELDS else F(field)
    if query.descending:
        expression = expression.desc(nulls_last=True)
    else:
        expression = expression.asc(nulls_last=True)
    # The slug is unique: a stable order across pages.
    return [expression, _text("slug").asc()]


def _statuses_by_model(model_ids) -> dict[int, list[dict]]:
    by_model = defaultdict(list)
    rows = ModelStatus.objects.filter(model_id__in=model_ids).values(
        "model_id", *serializers.STATUS_COLUMNS
    )
    for row in rows:
        by_model[row["model_id"]].append(row)
    return by_model


def _with_provider(models):
    return models.annotate(
        provider_slug=F("provider__slug"),
        provider_name=F("provider__name"),
        provider_website_url=F("provider__website_url"),
    )


def _model_rows(models):
    return models.values(
        "id", *serializers.MODEL_COLUMNS, "provider_slug", "provider_name", "provider_website_url"
    )


def _serialize_models(rows: list[dict], *, detail: bool = False) -> list[dict]:
    statuses = _statuses_by_model([row["id"] for row in rows])
    return [
        serializers.model_to_api(
            row,
            serializers.provider_ref(
                row["provider_slug"], row["provider_name"], row["provider_website_url"]
            ),
            statuses.get(row["id"], []),
            detail=detail,
        )
        for row in rows
    ]


def model_list(query: ModelQuery) -> ModelPage:
    """One page of models matching ``query`` (three queries: count, page, statuses)."""
    models = _filtered_models(query)
    total = models.count()
    page = _with_provider(models).order_by(*_ordering(query))
    rows = list(_model_rows(page)[query.offset : query.offset + query.limit])
    return ModelPage(models=_serialize_models(rows), total=total)


def model_detail(slug: str) -> dict | None:
    rows = list(_model_rows(_with_provider(Model.objects.filter(slug=slug))))
    return _serialize_models(rows, detail=True)[0] if rows else None


def provider_list() -> list[dict]:
    counts = {
        row["provider_id"]: row
        for row in Model.objects.values("provider_id").annotate(
            total=Count("id"), active=Count("id", filter=Q(is_active=True))
        )
    }
    availability = {
        row["provider_id"]: row["avg"]
        for row in ModelStatus.objects.values(provider_id=F("model__provider_id")).annotate(
            avg=ExactMean("availability")
        )
    }
    providers = Provider.objects.order_by(_text("slug")).values("id", *serializers.PROVIDER_COLUMNS)
    return [
        serializers.provider_to_api(
            row,
            model_count=counts.get(row["id"], {}).get("total", 0),
            active_model_count=counts.get(row["id"], {}).get("active", 0),
            avg_availability=availability.get(row["id"]),
        )
        for row in providers
    ]


def status_summary() -> dict:
    models = Model.objects.aggregate(
        total=Count("id"), active=Count("id", filter=Q(is_active=True))
    )
    statuses = ModelStatus.objects.aggregate(
        total=Count("id"), avg=ExactMean("availability"), last=Max("checked_at")
    )
    headline_counts = {
        row["headline"]: row["n"]
        for row in Model.objects.annotate(headline=headline_status_subquery())
        .filter(headline__isnull=False)
        .values("headline")
        .annotate(n=Count("id"))
        .order_by()
    }
    return serializers.summary_to_api(
        providers=Provider.objects.count(),
        models=models["total"],
        active_models=models["active"],
        statuses=statuses["total"],
        headline_counts=headline_counts,
        avg_availability=statuses["avg"],
        last_update=statuses["last"],
    )
