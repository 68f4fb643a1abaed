"""Settings for the test suite: the real settings, made fast.

The database still comes from DATABASE_URL (SQLite by default, PostgreSQL when it names one).
"""

import os

# Production mode (DEBUG=false) with a throwaway key: the tests see the security settings too.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SECURE_SSL_REDIRECT = False
# No collected static files in tests: WhiteNoise serves from the apps' own directories.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# Queued writes and shadow reads run inline in tests that use the test client (deterministic);
# the multi-process tests start real servers with the production defaults.
WRITE_QUEUE_IN_BACKGROUND = False
SHADOW_IN_BACKGROUND = False
COUNTERS_IN_BACKGROUND = False
STATUS_WRITE_TOKEN = "test-status-token"  # noqa: S105 (a test-only token)
# The migration linter (dev requirement) for `manage.py lintmigrations` in CI.
INSTALLED_APPS = [*INSTALLED_APPS, "django_migration_linter"]  # noqa: F405
# Third-party apps' migrations are theirs to keep compatible (django-axes's history drops columns
# it no longer uses): the linter judges this project's migrations.
MIGRATION_LINTER_OPTIONS = {"exclude_apps": ["axes"]}
