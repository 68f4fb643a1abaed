"""The migrator's own exceptions; commands turn them into CommandError, views into HTTP errors."""


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
