"""The migrator's own exceptions; commands turn them into CommandError, views into HTTP errors."""

from catalog.errors import first_line

__all__ = ["MigratorError", "SourceError", "TooManyRejects", "database_error_message", "first_line"]


def database_error_message(exc: BaseException) -> str:
    """What an operator command says when the database fails (never the URL or password)."""
    return (
        f"database error: {first_line(exc)}. Check DATABASE_URL (or DIRECT_URL) and that "
        "`manage.py migrate` ran."
    )


class MigratorError(Exception):
    """Base of every error the migrator reports to an operator."""


class SourceError(MigratorError):
    """An export that cannot be read: missing, unreachable, malformed or of the wrong shape."""

    def __init__(self, message: str, *, location: str = "", position: str = ""):
        super().__init__(message)
        self.location = location
        self.position = position


class TooManyRejects(MigratorError):
    """The run met more rejected records than ``--max-rejects`` allows."""
