from django.apps import AppConfig


class MigratorConfig(AppConfig):
    name = "migrator"
    verbose_name = "Migration from the JSON export"
