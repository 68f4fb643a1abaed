"""WSGI entry point: gunicorn (Render, Procfile) and Vercel's Python runtime load it."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Gunicorn halts (instead of restarting the worker forever) when a worker exits with this status,
# and says "App failed to load".
APP_LOAD_ERROR = 4

try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # One line naming the variable, not a traceback through Django's and gunicorn's internals.
    sys.stderr.write(f"Configuration error: {exc}\n")
    sys.stderr.flush()
    sys.exit(APP_LOAD_ERROR)
# Vercel's Python runtime looks for a module-level `app`.
app = application
