"""The one small interface both data stores implement for reads (the database and the JSON export).

A backend answers in the API's own shapes (camelCase dicts built by ``catalog.serializers``), so
that the views stay thin and both stores give identical bodies for identical data.
"""

from __future__ import annotations

import abc
import dataclasses

from catalog.models import Status

# API ordering names -> the model field each sorts on. Each may be prefixed with "-".
ORDERINGS = {
    "slug": "slug",
    "name": "name",
    "provider": "provider_slug",
    "releasedAt": "released_at",
    "contextWindow": "context_window",
}
STATUS_VALUES = tuple(Status.values)


class BackendUnavailable(Exception):
    """The store cannot answer now (database down, export unreadable).

    The message is for the log and for authenticated views; ``category`` ("database
    unavailable", "json unavailable", "timeout") is all that public answers say.
    """

    def __init__(self, message: str, *, category: str):
        super().__init__(message)
        self.category = category


class QueryRejected(ValueError):
    """The store refused the values of a query: the client's mistake, not a store failure."""


@dataclasses.dataclass(frozen=True)
class ModelQuery:
    """The validated filters, ordering and page of a model list request."""

    limit: int = 50
    offset: int = 0
    provider: str | None = None
    status: str | None = None
    modality: str | None = None
    capability: str | None = None
    is_active: bool | None = None
    q: str | None = None
    ordering: str = "slug"

    @property
    def order_field(self) -> str:
        return ORDERINGS[self.ordering.lstrip("-")]

    @property
    def descending(self) -> bool:
        return self.ordering.startswith("-")


@dataclasses.dataclass(frozen=True)
class ModelPage:
    models: list[dict]
    total: int


class CatalogBackend(abc.ABC):
    """Reads of the catalog. ``name`` is what responses report as ``dataSource``."""

    name: str

    @abc.abstractmethod
    def list_models(self, query: ModelQuery) -> ModelPage:
        """One page of models matching ``query``, each with provider and headline status."""

    @abc.abstractmethod
    def get_model(self, slug: str) -> dict | None:
        """One model with its provider and its statuses by region, or None."""

    @abc.abstractmethod
    def list_providers(self) -> list[dict]:
        """Every provider with model counts and average availability, by slug."""

    @abc.abstractmethod
    def status_summary(self) -> dict:
        """Catalog totals: providers, models, statuses by value, average availability."""

    def answer(self, key: tuple, compute):
        """``compute()``: an answer built from this backend's reads, ready to send (immutable:
        encoded bytes). A backend that caches answers returns the one it kept for ``key`` while
        its data has not changed; this one computes it every time."""
        return compute()
