from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Schema changes logged and checked, and the small operational endpoints (index page,
    health alias, cron entry point, database diagnostics). Nothing imports this app."""

    name = "operations"
    verbose_name = "Operations: schema changes"
