"""The database read backend: the catalog's selectors, with database failures translated. The
API's answers built from them are kept in the response cache while the catalog has not changed
(:meth:`DatabaseBackend.answer`, catalog/response_cache.py)."""

from __future__ import annotations

import functools

from django.db import DatabaseError, DataError, IntegrityError, connection, transaction

from catalog import response_cache, selectors
from catalog.backends.base import (
    BackendUnavailable,
    CatalogBackend,
    ModelPage,
    ModelQuery,
    QueryRejected,
)
from catalog.errors import first_line

_TIMEOUT_WORDS = ("timeout", "timed out", "statement_timeout", "canceling statement")


def _translated(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            if connection.in_atomic_block:
                # Inside a transaction, a savepoint: a failed read leaves it usable.
                with transaction.atomic():
                    return method(*args, **kwargs)
            return method(*args, **kwargs)
        except (DataError, IntegrityError) as exc:
            # A value the database cannot take (the parameter checks should have said so):
            # the query's fault, not the store's, so it neither falls back nor counts.
            raise QueryRejected(first_line(exc)) from exc
        except DatabaseError as exc:
            # Connection, timeout, missing table, operational errors: the store's failure.
            # The message (for the log) names host and database; the category is public.
            message = first_line(exc)
            timeout = any(word in message.lower() for word in _TIMEOUT_WORDS)
            raise BackendUnavailable(
                f"database: {message}", category="timeout" if timeout else "database unavailable"
            ) from exc

    return wrapper


class DatabaseBackend(CatalogBackend):
    name = "database"

    @_translated
    def list_models(self, query: ModelQuery) -> ModelPage:
        return selectors.model_list(query)

    @_translated
    def get_model(self, slug: str) -> dict | None:
        return selectors.model_detail(slug)

    @_translated
    def list_providers(self) -> list[dict]:
        return selectors.provider_list()

    @_translated
    def status_summary(self) -> dict:
        return selectors.status_summary()

    @_translated
    def answer(self, key: tuple, compute):
        """The answer kept for ``key`` at the catalog's current version, else ``compute()``'s
        (then kept): ``cached: true`` in the response says which (response_cache.take_hit)."""
        name, *arguments = key
        return response_cache.cached(name, tuple(arguments), compute)
