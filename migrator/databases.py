"""Another database, named by URL at run time: an extra Django connection alias.

copy_database, validate_migration --against-database and restore_db open the database they are
given next to the configured one, with the same rules as DATABASE_URL (config.database), and
close it when done. Nothing here writes; it only opens and closes.
"""

from __future__ import annotations

import contextlib
import itertools

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

from config.database import database_config, mask_url
from migrator.errors import MigratorError

_aliases = itertools.count(1)


def vendor_of(alias: str) -> str:
    return connections[alias].vendor


@contextlib.contextmanager
def opened(url: str | None, *, role: str):
    """Yield the alias of the database at ``url`` (the configured one when ``url`` is None).

    ``role`` names it in messages ("source", "target", "other"): a bad URL is a MigratorError
    naming the role and the masked URL, never the password.
    """
    if not url:
        yield DEFAULT_DB_ALIAS
        return
    try:
        config = database_config(
            url, conn_max_age=0, conn_health_checks=False, pooled=False, pool=False
        )
    except ImproperlyConfigured as exc:
        message = str(exc).replace("DATABASE_URL", f"the {role} URL")
        raise MigratorError(message) from None
    engine = config["ENGINE"].rsplit(".", 1)[-1]
    if engine not in ("sqlite3", "postgresql"):
        raise MigratorError(
            f"the {role} URL ({mask_url(url)}) names a {engine} database: use a sqlite:// or "
            "postgres:// URL"
        )
    alias = f"{role}_{next(_aliases)}"
    # Django's defaults for the keys the URL does not set (configure_settings wants "default"
    # beside it; that one is configured already and stays as it is).
    both = {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], alias: config}
    config = connections.configure_settings(both)[alias]
    # A connection made here, not a configured alias: it is not in settings.DATABASES, so
    # nothing that walks every configured database (request signals, test isolation) sees it.
    connection = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
    connections[alias] = connection
    try:
        yield alias
    finally:
        with contextlib.suppress(Exception):
            connection.close()
        with contextlib.suppress(AttributeError):
            delattr(connections._connections, alias)


def shown(url: str | None) -> str:
    """A URL as messages and reports show it (password masked; the configured one by name)."""
    return mask_url(url) if url else "DATABASE_URL"
