"""The whole catalog as comparable data: rows by natural key, without ids or timestamps."""

from catalog.models import Model, ModelStatus, Provider
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS


def catalog_snapshot() -> dict:
    return {
        "providers": {row["slug"]: row for row in Provider.objects.values(*PROVIDER_COLUMNS)},
        "models": {
            row["slug"]: row for row in Model.objects.values(*MODEL_COLUMNS, "provider__slug")
        },
        "statuses": {
            (row["model__slug"], row["region"]): row
            for row in ModelStatus.objects.values(*STATUS_COLUMNS, "model__slug")
        },
    }


def updated_stamps() -> dict:
    return {
        "providers": dict(Provider.objects.values_list("slug", "updated_at")),
        "models": dict(Model.objects.values_list("slug", "updated_at")),
        "statuses": {
            (slug, region): stamp
            for slug, region, stamp in ModelStatus.objects.values_list(
                "model__slug", "region", "updated_at"
            )
        },
    }
