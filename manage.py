#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Schema changes and long operator commands go through DIRECT_URL (Neon's non-pooled URL) when it is
# set: PgBouncer's transaction mode breaks migrations' locks and server-side cursors.
DIRECT_URL_COMMANDS = {
    "migrate",
    "sqlmigrate",
    "showmigrations",
    "dbshell",
    "backfill_json",
    "export_json",
    "publish_export",
    "validate_migration",
    "check_schema",
    "copy_database",
    "backup_db",
    "restore_db",
}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in DIRECT_URL_COMMANDS:
        os.environ.setdefault("USE_DIRECT_URL", "true")
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
    except ModuleNotFoundError as exc:
        if exc.name != "django":
            raise
        sys.exit(
            f"Django is not installed for {sys.executable}: activate the project's virtualenv "
            "(`. .venv/bin/activate`, after `make .venv/.runtime`) or run `.venv/bin/python "
            "manage.py ...`."
        )

    try:
        settings.INSTALLED_APPS  # noqa: B018 - load the settings now, to report errors plainly
    except ImproperlyConfigured as exc:
        # Django would go on without settings and fail later with an unrelated traceback.
        sys.exit(f"Configuration error: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
