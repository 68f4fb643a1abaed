"""Which store is the source of truth: the one reads come from.

While reads come from the JSON export, the export is the truth and the scheduled sync loads it
into the database. Once reads come from the database (the live switch's state row, or the
emergency DATA_BACKEND_OVERRIDE), the database is the truth: loads never replace a newer status
with an older one, and the sync writes the database out to the export instead.
"""

from __future__ import annotations

from django.conf import settings

from migrator.models import Backend, BackendState


def source_of_truth() -> str:
    """``database`` once reads come from the database, else ``json``."""
    if settings.DATA_BACKEND_OVERRIDE:
        return settings.DATA_BACKEND_OVERRIDE
    row = BackendState.objects.filter(pk=1).values("active", "override_seen").first()
    if row is None:
        return settings.DATA_BACKEND
    return row["override_seen"] or row["active"]


def database_is_truth() -> bool:
    return source_of_truth() == Backend.DATABASE
