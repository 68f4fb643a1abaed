"""Project configuration: settings from the environment (django-environ, dj-database-url),
URLs, WSGI/ASGI entry points."""
