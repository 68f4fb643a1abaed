"""The database read backend: the catalog's selectors, answered from the response cache when the
catalog has not changed since (catalog/response_cache.py), with database failures translated."""

from __future__ import annotations

import functools

from django.db import DatabaseError, connection, transaction

from catalog import response_cache, selectors
from catalog.backends.base import BackendUnavailable, CatalogBackend, ModelPage, ModelQuery
from catalog.errors import first_line


def _translated(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            if connection.in_atomic_block:
                # Inside a transaction, a savepoint: a failed read leaves it usable.
                with transaction.atomic():
                    return method(*args, **kwargs)
            return method(*args, **kwargs)
        except DatabaseError as exc:
            # The driver's message names the failure ("connection refused", "no such table"),
            # never the credentials.
            raise BackendUnavailable(f"database: {first_line(exc)}") from exc

    return wrapper


class DatabaseBackend(CatalogBackend):
    name = "database"

    @_translated
    def list_models(self, query: ModelQuery) -> ModelPage:
        return response_cache.cached("models", query, lambda: selectors.model_list(query))

    @_translated
    def get_model(self, slug: str) -> dict | None:
        return response_cache.cached("model", slug, lambda: selectors.model_detail(slug))

    @_translated
    def list_providers(self) -> list[dict]:
        return response_cache.cached("providers", (), selectors.provider_list)

    @_translated
    def status_summary(self) -> dict:
        return response_cache.cached("status", (), selectors.status_summary)
