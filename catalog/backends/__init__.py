"""Read backends by name, as ``settings.DATA_BACKENDS`` lists them."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.backends.base import (
    BackendUnavailable,
    CatalogBackend,
    ModelPage,
    ModelQuery,
    QueryRejected,
)

__all__ = [
    "BackendUnavailable",
    "CatalogBackend",
    "ModelPage",
    "ModelQuery",
    "QueryRejected",
    "get_backend",
]


@cache
def get_backend(name: str) -> CatalogBackend:
    """The backend instance registered under ``name`` (one per process)."""
    try:
        path = settings.DATA_BACKENDS[name]
    except KeyError:
        raise BackendUnavailable(
            f"no data backend named {name!r}", category=f"{name} unavailable"
        ) from None
    return import_string(path)()
