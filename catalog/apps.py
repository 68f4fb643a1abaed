from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self):
        from django.db.backends.signals import connection_created

        connection_created.connect(_sqlite_functions)


def _sqlite_functions(sender, connection, **kwargs):
    """SQLite has no exact decimal average: give it ours (catalog.aggregates)."""
    if connection.vendor == "sqlite":
        from catalog.aggregates import SqliteExactMean

        connection.connection.create_aggregate("catalog_exact_mean", 1, SqliteExactMean)
