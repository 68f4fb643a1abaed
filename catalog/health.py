"""The project's own health check: the catalog tables can be read (migrations have run)."""

import dataclasses

from django.db import DatabaseError, connection
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from catalog.models import Model, ModelStatus, Provider


@dataclasses.dataclass
class CatalogSchema(HealthCheck):
    """Each catalog table answers a one-row query."""

    def run(self):
        try:
            for table in (Provider, Model, ModelStatus):
                table.objects.exists()
        except DatabaseError as exc:
            raise ServiceUnavailable(
                "catalog tables cannot be read; has `manage.py migrate` run?"
            ) from exc
        finally:
            # Checks run in a worker thread: do not leave its connection behind.
            connection.close()
