"""Reads of the catalog from the database, in the API's shapes.

Each function issues a fixed, small number of queries whatever the page size (no N+1); a list
page is one query (plus a count when it is not the last page), with each model's headline status
chosen in SQL. Text
orderings use the "C" collation on PostgreSQL so that the database sorts exactly as Python does
(by code point), whatever collation the server was created with.
"""

from __future__ import annotations

import functools
from collections import Counter

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Collate

from catalog import serializers
from catalog.aggregates import ExactMean
from catalog.backends.base import ModelPage, ModelQuery
from catalog.models import GLOBAL_REGION, STATUS_SEVERITY, Model, ModelStatus, Provider

TEXT_ORDER_FIELDS = {"slug", "name", "provider_slug"}


def _text(field: str):
    return Collate(F(field), "C") if connection.vendor == "postgresql" else F(field)


def _severity():
    return Case(
        *(When(status=value, then=Value(rank)) for value, rank in STATUS_SEVERITY.items()),
        output_field=IntegerField(),
    )


def headline_status_id():
    """The id of a model's headline status row, per model row: its worst status (``global``
    first among equals, then by region: serializers.headline_key in SQL). One index probe per
    status value, worst first, stopping at the first the model has (catalog_status_status_model),
    instead of sorting all its regions."""
    is_regional = Case(When(region=GLOBAL_REGION, then=Value(0)), default=Value(1))
    probes = [
        Subquery(
            ModelStatus.objects.filter(model=OuterRef("pk"), status=value)
            .annotate(is_regional=is_regional)
            .order_by("is_regional", _text("region"))
            .values("id")[:1]
        )
        for value in sorted(STATUS_SEVERITY, key=STATUS_SEVERITY.get, reverse=True)
    ]
    return Coalesce(*probes)


def headline_is(status: str):
    """True for the models whose headline status is ``status``: they have a status of that value
    and none worse. On PostgreSQL from the per-model summary (one row per model); elsewhere a
    few index probes per model (catalog_status_status_model), however many regions it has."""
    worse = [value for value, rank in STATUS_SEVERITY.items() if rank > STATUS_SEVERITY[status]]
    if connection.vendor == "postgresql":
        # Column names are the status values (migration 0005), from the constants only.
        column = {value: value for value in STATUS_SEVERITY}[status]
        condition = " AND ".join([f"{column} > 0", *(f"{value} = 0" for value in worse)])
        summary = f"SELECT model_id FROM catalog_statussummary WHERE {condition}"  # noqa: S608
        return Q(id__in=RawSQL(summary, []))  # noqa: S611 (constants only)
    statuses = ModelStatus.objects.filter(model=OuterRef("pk"))
    condition = Exists(statuses.filter(status=status))
    if worse:
        condition &= ~Exists(statuses.filter(status__in=worse))
    return condition


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
        # UPPER(column) LIKE: the expressions the trigram indexes cover on PostgreSQL.
        models = models.filter(
            Q(name__icontains=query.q)
            | Q(slug__icontains=query.q)
            | Q(description__icontains=query.q)
        )
    if query.status:
        models = models.filter(headline_is(query.status))
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


HEADLINE = "headline"
MODEL_ROW = (
    "id",
    *serializers.MODEL_COLUMNS,
    "provider_slug",
    "provider_name",
    "provider_website_url",
)


def _with_provider(models):
    return models.annotate(
        provider_slug=F("provider__slug"),
        provider_name=F("provider__name"),
        provider_website_url=F("provider__website_url"),
    )


@functools.cache
def _page_template():
    """Model rows with their provider and their headline status's columns, unfiltered. Built
    once per process: building this query costs more than running it for a page."""
    headline = FilteredRelation("statuses", condition=Q(statuses__id=headline_status_id()))
    headline_columns = [f"{HEADLINE}__{column}" for column in ("id", *serializers.STATUS_COLUMNS)]
    models = _with_provider(Model.objects.annotate(**{HEADLINE: headline}))
    return models.values(*MODEL_ROW, *headline_columns)


def _page_rows(query: ModelQuery) -> list[dict]:
    """One page of model rows, with provider and headline status, in one query."""
    ordering = _ordering(query)
    page = _with_provider(_filtered_models(query)).order_by(*ordering).values("id")
    page = page[query.offset : query.offset + query.limit]
    return list(_page_template().filter(id__in=page).order_by(*ordering))


def _provider(row: dict) -> dict:
    return serializers.provider_ref(
        row["provider_slug"], row["provider_name"], row["provider_website_url"]
    )


def _headline(row: dict) -> list[dict]:
    if row[f"{HEADLINE}__id"] is None:
        return []
    return [{column: row[f"{HEADLINE}__{column}"] for column in serializers.STATUS_COLUMNS}]


def model_list(query: ModelQuery) -> ModelPage:
    """One page of models matching ``query``: one query for the page with each model's provider
    and headline status, and a count unless the page itself tells the total (a last page)."""
    rows = _page_rows(query)
    if len(rows) < query.limit and (rows or query.offset == 0):
        total = query.offset + len(rows)
    else:
        total = _filtered_models(query).count()
    return ModelPage(
        models=[serializers.model_to_api(row, _provider(row), _headline(row)) for row in rows],
        total=total,
    )


def model_detail(slug: str) -> dict | None:
    """One model with its provider and every status (two queries)."""
    rows = list(_with_provider(Model.objects.filter(slug=slug)).values(*MODEL_ROW))
    if not rows:
        return None
    row = rows[0]
    statuses = list(
        ModelStatus.objects.filter(model_id=row["id"]).values(*serializers.STATUS_COLUMNS)
    )
    return serializers.model_to_api(row, _provider(row), statuses, detail=True)


def _availability_by_provider() -> dict[int, float | None]:
    if connection.vendor == "postgresql":
        # The per-model sums the triggers keep (migration 0005): one row per model.
        with connection.cursor() as cursor:
            cursor.execute(_AVAILABILITY_BY_PROVIDER_SQL)
            return dict(cursor.fetchall())
    return {
        row["provider_id"]: row["avg"]
        for row in ModelStatus.objects.values(provider_id=F("model__provider_id")).annotate(
            avg=ExactMean("availability")
        )
    }


# ExactMean's PostgreSQL form (ROUND(AVG(x::numeric), 2)) over sums kept per model: AVG is that
# same numeric division, so both give the same digits.
_EXACT_MEAN_OF_SUMS = (
    "ROUND(SUM(s.availability_sum) / NULLIF(SUM(s.availability_count), 0), 2)::float8"
)
_AVAILABILITY_BY_PROVIDER_SQL = (
    f"SELECT m.provider_id, {_EXACT_MEAN_OF_SUMS} FROM catalog_statussummary s "  # noqa: S608
    "JOIN catalog_model m ON m.id = s.model_id GROUP BY m.provider_id"
)
# A model's headline is its worst status present: counted as "has outage", "no outage but
# degraded", ... from the per-status counts of the summary row.
_WORST_FIRST = [value for value, _ in sorted(STATUS_SEVERITY.items(), key=lambda item: -item[1])]
_HEADLINE_COUNTS = ", ".join(
    "COUNT(*) FILTER (WHERE "
    + " AND ".join([*(f"s.{worse} = 0" for worse in _WORST_FIRST[:i]), f"s.{value} > 0"])
    + ")"
    for i, value in enumerate(_WORST_FIRST)
)
_STATUS_FIGURES_SQL = (
    f"SELECT COALESCE(SUM(s.statuses), 0), {_EXACT_MEAN_OF_SUMS}, {_HEADLINE_COUNTS} "  # noqa: S608
    "FROM catalog_statussummary s"
)


def provider_list() -> list[dict]:
    """Every provider with its model counts and the exact mean availability of its statuses."""
    counts = {
        row["provider_id"]: row
        for row in Model.objects.values("provider_id").annotate(
            total=Count("id"), active=Count("id", filter=Q(is_active=True))
        )
    }
    availability = _availability_by_provider()
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


def _status_figures() -> tuple[int, float | None, dict[str, int]]:
    """(number of statuses, their exact mean availability, models by headline status)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_STATUS_FIGURES_SQL)
            total, mean, *by_value = cursor.fetchone()
        return int(total), mean, {v: n for v, n in zip(_WORST_FIRST, by_value, strict=True) if n}
    statuses = ModelStatus.objects.aggregate(total=Count("id"), avg=ExactMean("availability"))
    # A model's headline status is the one of its worst severity (the region only breaks ties
    # between equal statuses): one pass over the statuses, grouped by model.
    worst = (
        ModelStatus.objects.values("model_id")
        .annotate(worst=Max(_severity()))
        .order_by()
        .values_list("worst", flat=True)
    )
    by_rank = Counter(worst)
    headline_counts = {
        value: by_rank[rank] for value, rank in STATUS_SEVERITY.items() if by_rank[rank]
    }
    return statuses["total"], statuses["avg"], headline_counts


def status_summary() -> dict:
    """Catalog totals; on PostgreSQL from the per-model summary (one row per model, not per
    status), elsewhere from the statuses."""
    models = Model.objects.aggregate(
        total=Count("id"), active=Count("id", filter=Q(is_active=True))
    )
    total_statuses, mean, headline_counts = _status_figures()
    # Served by the checked_at index: the last entry.
    last_update = ModelStatus.objects.aggregate(last=Max("checked_at"))["last"]
    return serializers.summary_to_api(
        providers=Provider.objects.count(),
        models=models["total"],
        active_models=models["active"],
        statuses=total_statuses,
        headline_counts=headline_counts,
        avg_availability=mean,
        last_update=last_update,
    )
