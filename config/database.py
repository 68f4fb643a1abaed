"""Turn the database URLs of the environment into Django's DATABASES entry.

Kept apart from settings.py so that the rules (pooled URLs, the direct URL, masking) can be read and
tested on their own.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# scheme://user:password@host -> the password part, up to the last "@" before the host.
_PASSWORD = re.compile(r"(://[^:/@]*:)[^/]*@")


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``, safe to print or log."""
    return _PASSWORD.sub(r"\1***@", url)


def is_pooled_url(url: str) -> bool:
    """True for a PgBouncer URL as Neon hands it out (host name containing ``-pooler``)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return "-pooler" in host


def database_config(
    url: str,
    *,
    conn_max_age: int,
    conn_health_checks: bool,
    pooled: bool,
    pool: bool,
) -> dict:
    """The ``DATABASES["default"]`` dict for ``url``; ImproperlyConfigured on bad input."""
    try:
        config = dj_database_url.parse(
            url, conn_max_age=conn_max_age, conn_health_checks=conn_health_checks
        )
    except Exception as exc:  # dj-database-url raises ValueError, KeyError, ...
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a usable database URL ({mask_url(url)}): {exc}. "
            "Use e.g. sqlite:///db.sqlite3 or postgres://user:password@host:5432/name."
        ) from exc
    engine = config.get("ENGINE", "")
    if not engine:
        raise ImproperlyConfigured(
            f"DATABASE_URL names no database engine ({mask_url(url)}). "
            "Use a sqlite:// or postgres:// URL."
        )
    if engine.endswith("sqlite3"):
        # Several processes (web workers, operator commands) share the file: take the write
        # lock when a transaction starts (no "database is locked" on upgrade), wait for it,
        # and let readers go on while one writes (WAL).
        options = config.setdefault("OPTIONS", {})
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    is_postgres = engine.endswith("postgresql")
    if is_postgres and not config.get("NAME"):
        raise ImproperlyConfigured(
            f"DATABASE_URL names no database ({mask_url(url)}): add the database name after "
            "the host, e.g. postgres://user@host:5432/catalog."
        )
    if is_postgres and (pooled or is_pooled_url(url)):
        # PgBouncer in transaction mode keeps no session state between transactions: a named
        # (server-side) cursor would vanish under us.
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
        if pool:
            raise ImproperlyConfigured(
                "DB_POOL=true cannot be combined with a pooled (PgBouncer) DATABASE_URL: the URL "
                "is already pooled. Use Neon's direct URL with DB_POOL, or turn DB_POOL off."
            )
    if pool:
        if not is_postgres:
            raise ImproperlyConfigured("DB_POOL=true needs a PostgreSQL DATABASE_URL.")
        # Django's own psycopg pool replaces persistent connections: CONN_MAX_AGE must be 0.
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {})["pool"] = True
    return config
