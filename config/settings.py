"""Settings of the catalog service: every value comes from the environment (or a ``.env`` file).

``.env.example`` lists and explains each variable. Production secrets have no default, so a missing
one stops the process at start-up with a message that says what to set.
"""

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from config.database import database_config
from config.environment import Environment

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file (django-environ never overwrites them).
ENV_FILE = Path(environ.Env().str("ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    env.read_env(ENV_FILE)
# An empty value (`X=` in .env or a host's dashboard) means "not set": the default applies.
env.ENVIRON = {name: value for name, value in env.ENVIRON.items() if value != ""}
# Every value is checked as it is read: an invalid one stops start-up with one line naming it.
environment = Environment(env)


# --- Core -------------------------------------------------------------------------------------

DEBUG = environment.bool("DEBUG", default=False)
# Vercel sets VERCEL=1 in its functions: a read-only file system and no build-time collectstatic.
ON_VERCEL = environment.bool("VERCEL", default=False)

if DEBUG:
    SECRET_KEY = environment.str(
        "SECRET_KEY", default="insecure-development-key-do-not-use-in-production"
    )
else:
    SECRET_KEY = environment.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=false) needs a long random secret: set "
            "SECRET_KEY in the environment, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, "
            "or set DEBUG=true for local development."
        )

_host_defaults = ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
ALLOWED_HOSTS = environment.list("ALLOWED_HOSTS", default=_host_defaults)
CSRF_TRUSTED_ORIGINS = environment.list("CSRF_TRUSTED_ORIGINS", default=[])
# The hosts' own domain variables: Render sets the service's public host name, Vercel the
# deployment's. Both are set by the platform, not by a client, so trusting them is safe.
for _platform_host in (
    environment.str("RENDER_EXTERNAL_HOSTNAME", ""),
    environment.str("VERCEL_URL", ""),
):
    if _platform_host:
        ALLOWED_HOSTS.append(_platform_host)
        CSRF_TRUSTED_ORIGINS.append(f"https://{_platform_host}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "health_check",
    # Login throttling for the admin (failed attempts are in the admin, under Axes).
    "axes",
    "catalog",
    "migrator",
    # After catalog: its admin re-registers the catalog's models with write-through admins.
    "live",
    # The migration log (its own `migrate`), check_schema, the index page and the cron entry.
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Next (after the two that only add headers): it times whole responses for the guard and
    # refuses writes during maintenance; its answers still get the security headers and the CSP.
    "live.middleware.LiveMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = environment.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Neon hands out a pooled URL (PgBouncer, for the app) and a direct one (for schema changes and
# long operator commands). manage.py sets USE_DIRECT_URL for those commands.
DIRECT_URL = environment.str("DIRECT_URL", default="")
USE_DIRECT_URL = environment.bool("USE_DIRECT_URL", default=False)
_active_url = DIRECT_URL if (USE_DIRECT_URL and DIRECT_URL) else DATABASE_URL

DATABASE_POOLED = environment.bool("DATABASE_POOLED", default=False) and _active_url is DATABASE_URL
DATABASES = {
    "default": database_config(
        _active_url,
        conn_max_age=environment.int("CONN_MAX_AGE", default=60, unit="seconds"),
        conn_health_checks=environment.bool("CONN_HEALTH_CHECKS", default=True),
        pooled=DATABASE_POOLED,
        pool=environment.bool("DB_POOL", default=False),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": environment.cache("CACHE_URL", default="locmemcache://")}
# Seconds the database backend's answers stay in that cache (keyed by the catalog's version, so
# never stale; this only bounds memory). 0 turns the response cache off.
CATALOG_CACHE_SECONDS = environment.float("CATALOG_CACHE_SECONDS", default=300.0, unit="seconds")

# --- Catalog data: the JSON store and the database --------------------------------------------

# The seeds' spellings of the two stores, accepted where harmless.
BACKEND_ALIASES = {
    "json": "json",
    "github": "json",
    "database": "database",
    "postgres": "database",
    "postgresql": "database",
}


def _backend(name: str, default: str) -> str:
    given = environment.str(name, default=default)
    value = given.strip().lower()
    if value not in BACKEND_ALIASES:
        raise environment.invalid(
            name,
            given,
            "one of json, database (aliases: github = json; postgres, postgresql = database)",
        )
    return BACKEND_ALIASES[value]


# Which store serves reads at boot; `switch_backend` changes it at run time.
DATA_BACKEND = _backend("DATA_BACKEND", "json")
# Emergency override: while set, every worker reads from this store whatever the state row says
# (the canary is off, the guard stands still). Unset it (and redeploy) to give control back.
_override = environment.str("DATA_BACKEND_OVERRIDE", default="")
DATA_BACKEND_OVERRIDE = _backend("DATA_BACKEND_OVERRIDE", "") if _override else ""
# Write to both stores while the move is under way.
DUAL_WRITE = environment.bool("DUAL_WRITE", default=False)
# The shipped sample export: read-only input (the JSON store refuses to write into it).
SAMPLE_EXPORT_DIR = BASE_DIR / "data" / "sample"
JSON_EXPORT_DIR = Path(environment.str("JSON_EXPORT_DIR", default=str(SAMPLE_EXPORT_DIR)))
JSON_EXPORT_URL = environment.str("JSON_EXPORT_URL", default="")
if JSON_EXPORT_URL and urlsplit(JSON_EXPORT_URL).scheme not in ("http", "https"):
    raise ImproperlyConfigured(
        f"JSON_EXPORT_URL={JSON_EXPORT_URL!r} is not an http(s):// URL: give the base URL of an "
        "export, e.g. https://raw.githubusercontent.com/<org>/<repo>/main/data."
    )
# Seconds to wait on the export's host (connect and each read) before giving up.
JSON_EXPORT_TIMEOUT = environment.float(
    "JSON_EXPORT_TIMEOUT", default=30.0, positive=True, unit="seconds"
)
# backfill_json reads and maps statuses in a second (forked) process, beside the one that writes.
BACKFILL_PARALLEL = environment.bool("BACKFILL_PARALLEL", default=True)
# backup_db without FILE writes here (var/backups in the project by default: on hosts whose disk
# does not outlive a deploy, point it at a persistent disk).
BACKUP_DIR = environment.str("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups"))
# A snapshot before the release step's migrations / before each scheduled sync
# (`backup_db --when-enabled migrate|sync` does nothing while its switch is off).
BACKUP_BEFORE_MIGRATE = environment.bool("BACKUP_BEFORE_MIGRATE", default=False)
BACKUP_BEFORE_SYNC = environment.bool("BACKUP_BEFORE_SYNC", default=False)
# Seconds each worker trusts the backend state it last read (a switch reaches every worker
# within this time).
BACKEND_STATE_TTL = environment.float("BACKEND_STATE_TTL", default=1.0, unit="seconds")
# Writes the database has not taken yet wait in a journal file here (per host; needs a disk).
# On Vercel only the temporary directory is writable (and not kept between invocations).
_journal_default = (
    Path(tempfile.gettempdir()) / "catalog-journal" if ON_VERCEL else BASE_DIR / "var" / "journal"
)
WRITE_JOURNAL_DIR = Path(environment.str("WRITE_JOURNAL_DIR", default=str(_journal_default)))
# Queued writes are applied by a background thread in each worker, retried every N seconds.
WRITE_QUEUE_IN_BACKGROUND = environment.bool("WRITE_QUEUE_IN_BACKGROUND", default=True)
WRITE_RETRY_SECONDS = environment.float(
    "WRITE_RETRY_SECONDS", default=5.0, positive=True, unit="seconds"
)
# A queued write its store refuses this many times in a row becomes a dead letter.
WRITE_MAX_ATTEMPTS = environment.int("WRITE_MAX_ATTEMPTS", default=3, minimum=1)
# Each worker writes its traffic counts (live.counters) to the database every N seconds, from a
# background thread; the guard judges the whole service's counts after each write.
COUNTERS_IN_BACKGROUND = environment.bool("COUNTERS_IN_BACKGROUND", default=True)
COUNTERS_FLUSH_SECONDS = environment.float(
    "COUNTERS_FLUSH_SECONDS", default=1.0, positive=True, unit="seconds"
)
# Bearer token of Prometheus's scrapes of /metrics. Unset: /metrics answers 404 in production
# (DEBUG=false) and is open to anyone with DEBUG=true (a developer's machine).
METRICS_TOKEN = environment.str("METRICS_TOKEN", default="")
# Error reports to Sentry (sentry-sdk) when set; off by default. No personal data is sent.
SENTRY_DSN = environment.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = environment.str("SENTRY_ENVIRONMENT", default="production")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        send_default_pii=False,
        traces_sample_rate=0.0,  # errors only: the latencies are in /metrics
    )
# Bearer token of the monitors that PUT statuses (/api/v1/models/<slug>/status). Unset: that
# endpoint answers 503 (writes disabled).
STATUS_WRITE_TOKEN = environment.str("STATUS_WRITE_TOKEN", default="")
# Vercel's cron calls /api/cron/sync-models with `Authorization: Bearer $CRON_SECRET`; unset,
# that endpoint answers 503. The sync is refused when the previous one took more than 80% of
# CRON_TIME_LIMIT (the function's maximum duration on the host).
CRON_SECRET = environment.str("CRON_SECRET", default="")
CRON_TIME_LIMIT = environment.float("CRON_TIME_LIMIT", default=60.0, positive=True, unit="seconds")
# Once reads come from the database, the scheduled sync writes the export out and publishes it
# to the export's Git repository: its URL (https or ssh; no token in it), the branch, the
# directory within the repository that holds the three files, the token sent as HTTP basic auth
# (never written to disk), the commit's author, and where the working clone is kept.
EXPORT_GIT_URL = environment.str("EXPORT_GIT_URL", default="")
EXPORT_GIT_BRANCH = environment.str("EXPORT_GIT_BRANCH", default="main")
EXPORT_GIT_PATH = environment.str("EXPORT_GIT_PATH", default="data")
EXPORT_GIT_USER = environment.str("EXPORT_GIT_USER", default="x-access-token")
EXPORT_GIT_TOKEN = environment.str("EXPORT_GIT_TOKEN", default="")
EXPORT_GIT_AUTHOR = environment.str(
    "EXPORT_GIT_AUTHOR", default="catalog sync <catalog-sync@users.noreply.invalid>"
)
EXPORT_GIT_CHECKOUT = Path(
    environment.str(
        "EXPORT_GIT_CHECKOUT",
        default=str(
            Path(tempfile.gettempdir()) / "catalog-export-repo"
            if ON_VERCEL
            else BASE_DIR / "var" / "export-repo"
        ),
    )
)
# Shadow reads run in a background thread (off the request's path); tests may run them inline.
SHADOW_IN_BACKGROUND = environment.bool("SHADOW_IN_BACKGROUND", default=True)
# Seconds the JSON read backend trusts an export URL before asking whether it changed.
JSON_EXPORT_TTL = environment.float("JSON_EXPORT_TTL", default=60.0, unit="seconds")
# Read backends by name, each a dotted path to a catalog.backends.base.CatalogBackend.
DATA_BACKENDS = {
    "database": "catalog.backends.database.DatabaseBackend",
    "json": "live.json_backend.JsonBackend",
}

# --- Security (`manage.py check --deploy` prints no warning with DEBUG=false) -----------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = environment.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Platform health checks probe over plain HTTP inside the host's network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^api/health/?$"]
SECURE_HSTS_SECONDS = environment.int(
    "SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000, unit="seconds"
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = environment.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = environment.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = environment.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = environment.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp: Django 5.2 has none of its own). The admin and the API
# need nothing from another origin and no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# Admin login throttling (django-axes): after AXES_FAILURE_LIMIT failures for one user name from
# one address, that pair is locked out for AXES_COOLOFF_HOURS. Unlock early with
# `manage.py axes_reset_username <name>` (or axes_reset_ip, axes_reset).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = environment.int("AXES_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = environment.float(
    "AXES_COOLOFF_HOURS", default=1.0, positive=True, unit="hours"
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# --- Auth, i18n, static files -----------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(environment.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# WhiteNoise serves the admin's files: compressed, with hashed names and a year-long cache,
# from what `collectstatic` wrote at build time (Render's build command runs it).
STATIC_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
if ON_VERCEL:
    # No build step runs collectstatic on Vercel: WhiteNoise serves the files straight from the
    # installed apps (same URLs, no hashed names, a short cache lifetime).
    STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"
    WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": STATIC_STORAGE},
}

# --- Logging: one line per event, key=value pairs, to stderr (Render and Vercel show both) --

LOG_LEVEL = environment.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "catalog": {"level": LOG_LEVEL},
        "migrator": {"level": LOG_LEVEL},
        "live": {"level": LOG_LEVEL},
        "django.request": {"level": "ERROR"},
    },
}
