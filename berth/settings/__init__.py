"""Django settings for Berth, read from the environment with defaults that run on a laptop.

Every knob is a ``BERTH_*`` environment variable (secrets also accept ``*_FILE``).
Production is the default: with ``BERTH_DEBUG`` off the process refuses to start
without real secrets, and with it on, unless ``BERTH_BIND`` is a loopback address.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from .env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_optional_secret,
    env_secret,
    env_str,
    is_loopback_bind,
    url_with_password,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("BERTH_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("BERTH_DEBUG", False)
# Where the web server listens (gunicorn --bind): scripts/run, the Dockerfile and
# docker-compose.yml pass the same value to gunicorn, so the settings know it. Debug mode
# shows tracebacks and settings on error pages, so it is allowed on loopback only.
BERTH_BIND = env_str("BERTH_BIND", "127.0.0.1:8000").strip()
if DEBUG and not is_loopback_bind(BERTH_BIND):
    raise ImproperlyConfigured(
        f"BERTH_DEBUG is on but BERTH_BIND={BERTH_BIND} is not a loopback address: debug "
        "pages would show settings and tracebacks to the network. Turn BERTH_DEBUG off "
        "(and set the secrets) or bind to 127.0.0.1."
    )
_dev_secrets = VAR_DIR / "secrets" if DEBUG else None
SECRET_KEY = env_secret("BERTH_SECRET_KEY", dev_dir=_dev_secrets)
# Comma-separated Fernet keys: the first encrypts, all decrypt (see rotate_encryption_key).
BERTH_ENCRYPTION_KEYS = env_secret("BERTH_ENCRYPTION_KEY", dev_dir=_dev_secrets).split(",")

ALLOWED_HOSTS = env_list("BERTH_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("BERTH_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "accounts.admin_site.BerthAdminConfig",  # django.contrib.admin, for Berth admins only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "csp",
    "accounts",
    "operations",
    "hosts",
    "containers",
    "policies",
    "images",
    "networks",
    "volumes",
    "deployments",
    "frontend",
]

# Messages in the session, not in Django's default readable cookie: the admin shows a
# new API token's secret once as a message.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one: JSON for every /api/ error whatever answered it (berth/middleware.py).
    "berth.middleware.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "berth.urls"
WSGI_APPLICATION = "berth.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'berth.sqlite3'}"),
        conn_max_age=env_int("BERTH_DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
# The database password may live apart from DATABASE_URL, e.g. in a secret file.
_db_password = env_optional_secret("BERTH_DB_PASSWORD")
if _db_password is not None:
    DATABASES["default"]["PASSWORD"] = _db_password
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write to one SQLite file: WAL lets readers run beside a
    # writer, and IMMEDIATE transactions wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Integration tests share the test database with a real worker process.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("BERTH_TEST_DATABASE", str(VAR_DIR / "test-berth.sqlite3"))
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("BERTH_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Third-party CSS/JS come from npm (package.json); only the files we serve are exposed.
STATICFILES_DIRS = [
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/pico", BASE_DIR / "node_modules" / "@picocss" / "pico" / "css"),
    ("vendor/swagger-ui", BASE_DIR / "node_modules" / "swagger-ui-dist"),
]

# Serve straight from the app and npm directories in development, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Failed logins are counted per client address, and per username only together with
# the address (so nobody can lock a user out by name from elsewhere): past
# BERTH_LOGIN_MAX_FAILURES for one username from one address, or
# BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS in all (password or API token) from one address,
# within the window, that address is refused until the window has passed.
BERTH_LOGIN_MAX_FAILURES = env_int("BERTH_LOGIN_MAX_FAILURES", 10, minimum=1)
BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int(
    "BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS", 50, minimum=1
)
BERTH_LOGIN_FAILURE_WINDOW = env_int("BERTH_LOGIN_FAILURE_WINDOW", 300, minimum=1)
# Proxies (addresses or networks, e.g. 10.0.0.0/8) whose X-Forwarded-For is believed:
# the client is the last address in it that is not one of them. Empty: REMOTE_ADDR is
# the client, and X-Forwarded-For is ignored (anyone can write it).
BERTH_TRUSTED_PROXIES = env_list("BERTH_TRUSTED_PROXIES", [])

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "frontend:dashboard"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    # Tokens first: an unauthenticated request is answered 401 with WWW-Authenticate: Bearer.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Reads need viewer; writes the role each view names (accounts/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.RolePermission"],
    "EXCEPTION_HANDLER": "berth.api_errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "berth.pagination.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": [
        "berth.filters.FilterBackend",  # django-filter's, refusing empty or unreadable values
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "berth.schema.BerthAutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Berth API",
    "DESCRIPTION": "Control plane for fleets of Docker hosts.",
    "VERSION": "1",
    # /api/schema/ and /api/docs/ need a login (session or token), like the API itself.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the npm package (package.json) through our static files, not a CDN.
    "SWAGGER_UI_DIST": f"/{STATIC_URL}vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL}vendor/swagger-ui/favicon-32x32.png",
    # pid_mode and userns_mode both take only "host": one enum, one name.
    "ENUM_NAME_OVERRIDES": {"HostNamespaceEnum": ["host"]},
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = url_with_password(
    env_str("BERTH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    env_optional_secret("BERTH_REDIS_PASSWORD"),
)
# The cache (failed-login counters above all) lives in the same Redis, so every web
# process counts the same failures.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CELERY_BROKER_URL,
        "KEY_PREFIX": "berth",
        "OPTIONS": {
            "socket_connect_timeout": env_float("BERTH_BROKER_TIMEOUT", 2.0, minimum=0.1),
            "socket_timeout": env_float("BERTH_BROKER_TIMEOUT", 2.0, minimum=0.1),
        },
    }
}
# kombu's Redis transport with one fix: a worker that loses Redis mid-task survives it
# (berth/broker.py). The redis:// URL still says where Redis is.
CELERY_BROKER_TRANSPORT = "berth.broker:RedisTransport"
CELERY_TASK_IGNORE_RESULT = True  # the Operation row is the record, not the result backend
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Broker (Redis) outages, docs/operations.md "Broker and database outages": workers and
# beat wait for the broker however long it is away, at start-up and after losing it.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Whoever publishes (a web request, beat, the watcher) waits a few seconds at most, not
# Celery's default of a TCP connect with no timeout: one retry, which is what a pooled
# connection left dead by a Redis restart needs, and short socket timeouts for a broker
# that does not answer at all. A refused connection fails in well under a second.
BERTH_BROKER_TIMEOUT = env_float("BERTH_BROKER_TIMEOUT", 2.0, minimum=0.1)
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": BERTH_BROKER_TIMEOUT,
    # Longer than the worker's 1 s BRPOP poll, so an idle worker never times out.
    "socket_timeout": max(BERTH_BROKER_TIMEOUT, 3.0),
}
CELERY_TASK_ALWAYS_EAGER = env_bool("BERTH_TASKS_EAGER", False)
# Split the hosts into this many queues, hosts.<host id % N>, each served only by the
# workers told to consume it (berth/routing.py); 0 keeps every task on the default queue.
# Every process that queues tasks (web, worker, beat, watcher) must use the same value.
BERTH_HOST_SHARDS = env_int("BERTH_HOST_SHARDS", 0, minimum=0)
CELERY_TASK_ROUTES = ["berth.routing.route_task"]
if BERTH_HOST_SHARDS:
    # A worker started without --queues serves the default queue and every shard;
    # `celery -A berth worker --queues hosts.0,celery` serves only those.
    CELERY_TASK_QUEUES = [
        Queue(name, Exchange(name), routing_key=name)
        for name in ["celery", *(f"hosts.{index}" for index in range(BERTH_HOST_SHARDS))]
    ]
BERTH_REFRESH_INTERVAL = env_float("BERTH_REFRESH_INTERVAL", 30.0, minimum=1.0)
# A fleet refresh is split into tasks of at most this many hosts (per shard queue);
# each task refreshes its hosts with up to BERTH_REFRESH_THREADS at a time.
BERTH_REFRESH_BATCH = env_int("BERTH_REFRESH_BATCH", 100, minimum=1)
BERTH_REFRESH_THREADS = env_int("BERTH_REFRESH_THREADS", 25, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "refresh-fleet": {
        "task": "hosts.tasks.refresh_fleet",
        "schedule": BERTH_REFRESH_INTERVAL,
        # A refresh that waits longer than one interval is superseded by the next one.
        "options": {"expires": BERTH_REFRESH_INTERVAL},
    },
}

# --- Agent link ---------------------------------------------------------------
BERTH_AGENT_PYZ = Path(env_str("BERTH_AGENT_PYZ", str(BASE_DIR / "build" / "berth-agent.pyz")))
BERTH_SSH_CONNECT_TIMEOUT = env_float("BERTH_SSH_CONNECT_TIMEOUT", 5.0, minimum=0.1)
BERTH_AGENT_START_TIMEOUT = env_float("BERTH_AGENT_START_TIMEOUT", 10.0, minimum=0.1)
BERTH_AGENT_REQUEST_TIMEOUT = env_float("BERTH_AGENT_REQUEST_TIMEOUT", 30.0, minimum=0.1)
BERTH_SSH_KEEPALIVE = env_int("BERTH_SSH_KEEPALIVE", 15, minimum=0)

# "text" (readable) or "json" (one object per line, for log collectors). Either way every
# line logged while an operation runs names it, its host and the Celery task (berth/logging.py).
BERTH_LOG_FORMAT = env_str("BERTH_LOG_FORMAT", "text").strip().lower()
if BERTH_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"BERTH_LOG_FORMAT must be text or json, not {BERTH_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "berth.logging.ContextFilter"}},
    "formatters": {
        "text": {"()": "berth.logging.TextFormatter"},
        "json": {"()": "berth.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": BERTH_LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("BERTH_LOG_LEVEL", "INFO")},
    "loggers": {"paramiko": {"level": "WARNING"}},
}
# Workers keep the handler above instead of Celery's own, so they log in the same format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("BERTH_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- HTTP hardening (docs/security.md "Hardening settings") ---------------------------
# HTTPS only, once a browser has seen it: one year by default in production.
SECURE_HSTS_SECONDS = env_int("BERTH_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("BERTH_HSTS_INCLUDE_SUBDOMAINS", False)
# Redirect plain HTTP to HTTPS; off by default in debug and on a loopback bind, where
# there is no TLS in front. The probes and the scrape stay reachable over plain HTTP.
SECURE_SSL_REDIRECT = env_bool("BERTH_SSL_REDIRECT", not DEBUG and not is_loopback_bind(BERTH_BIND))
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if BERTH_TRUSTED_PROXIES:
    # The TLS-terminating proxy says the request came over HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts and styles from Berth's own static files only: nothing inline, no CDN.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Operations ----------------------------------------------------------------
BERTH_OPERATION_RETRIES = env_int("BERTH_OPERATION_RETRIES", 3, minimum=0)
BERTH_RETRY_BACKOFF = env_float("BERTH_RETRY_BACKOFF", 2.0, minimum=0.0)
BERTH_PENDING_TIMEOUT = env_int("BERTH_PENDING_TIMEOUT", 3600, minimum=10)
# A running operation's process writes its heartbeat this often (seconds); a process on
# another machine whose operation has not beaten for BERTH_WORKER_LOST_AFTER seconds is
# taken as lost (its machine died), and the reaper queues the operation again
# (docs/deployment.md "Losing a worker machine").
BERTH_WORKER_HEARTBEAT = env_float("BERTH_WORKER_HEARTBEAT", 5.0, minimum=0.1)
BERTH_WORKER_LOST_AFTER = env_float("BERTH_WORKER_LOST_AFTER", 30.0, minimum=1.0)
if BERTH_WORKER_LOST_AFTER < 3 * BERTH_WORKER_HEARTBEAT:
    raise ImproperlyConfigured(
        "BERTH_WORKER_LOST_AFTER must be at least 3 times BERTH_WORKER_HEARTBEAT "
        f"({3 * BERTH_WORKER_HEARTBEAT:g}), not {BERTH_WORKER_LOST_AFTER:g}: a live "
        "worker that misses one beat would be taken for lost"
    )
BERTH_DEPLOY_HOST_TIMEOUT = env_int("BERTH_DEPLOY_HOST_TIMEOUT", 600, minimum=10)
# After a failed attempt to bring a host to its services' current revision, wait this
# long before the next one, so a host that cannot run a revision is not hammered.
BERTH_CONVERGE_COOLDOWN = env_int("BERTH_CONVERGE_COOLDOWN", 60, minimum=0)
# No convergence of a service within this long after one of its rollouts ended: a
# refresh that read a host before the rollout switched it must not undo the switch.
BERTH_CONVERGE_SETTLE = env_int("BERTH_CONVERGE_SETTLE", 30, minimum=0)
# Longest a container log follow runs before it ends by itself (seconds).
BERTH_LOG_FOLLOW_MAX = env_int("BERTH_LOG_FOLLOW_MAX", 600, minimum=1)
# Most bytes of log lines one container log read returns, or one follow streams; the
# agent keeps the newest lines within it and says "truncated". It takes 64 KiB to 16 MiB.
BERTH_LOG_MAX_BYTES = env_int("BERTH_LOG_MAX_BYTES", 1024 * 1024, minimum=64 * 1024)
if BERTH_LOG_MAX_BYTES > 16 * 1024 * 1024:
    raise ImproperlyConfigured(
        f"BERTH_LOG_MAX_BYTES must be at most {16 * 1024 * 1024}, not {BERTH_LOG_MAX_BYTES}"
    )
# Largest build context (a tar file) a build request may upload, in bytes. It is kept in
# the database, in chunks, until its build has ended.
BERTH_BUILD_CONTEXT_MAX_BYTES = env_int(
    "BERTH_BUILD_CONTEXT_MAX_BYTES", 100 * 1024 * 1024, minimum=1024
)
CELERY_BEAT_SCHEDULE["reap-stuck-operations"] = {
    "task": "operations.tasks.reap_stuck_operations",
    "schedule": env_float("BERTH_REAPER_INTERVAL", 20.0, minimum=1.0),
}
# Retention of the operation log (operations/retention.py): finished operations
# recorded more than this many days ago, or beyond the newest this many, are exported
# to a file in BERTH_OPERATION_EXPORT_DIR and then deleted. 0 (the default): kept forever.
BERTH_OPERATION_RETENTION_DAYS = env_int("BERTH_OPERATION_RETENTION_DAYS", 0, minimum=0)
BERTH_OPERATION_RETENTION_ROWS = env_int("BERTH_OPERATION_RETENTION_ROWS", 0, minimum=0)
BERTH_OPERATION_EXPORT_DIR = env_str(
    "BERTH_OPERATION_EXPORT_DIR", str(VAR_DIR / "operation-exports")
)
BERTH_OPERATION_EXPORT_FORMAT = env_str("BERTH_OPERATION_EXPORT_FORMAT", "jsonl").strip().lower()
if BERTH_OPERATION_EXPORT_FORMAT not in ("jsonl", "csv"):
    raise ImproperlyConfigured(
        f"BERTH_OPERATION_EXPORT_FORMAT must be jsonl or csv, not {BERTH_OPERATION_EXPORT_FORMAT!r}"
    )
if BERTH_OPERATION_RETENTION_DAYS or BERTH_OPERATION_RETENTION_ROWS:
    CELERY_BEAT_SCHEDULE["prune-operations"] = {
        "task": "operations.tasks.prune_operations",
        "schedule": env_float("BERTH_OPERATION_PRUNE_INTERVAL", 86400.0, minimum=60.0),
    }

# --- Monitoring (berth/monitoring/) -------------------------------------------------
# With a token set, GET /metrics needs "Authorization: Bearer <token>"; without one it
# is open, so restrict it at the proxy or set the token.
BERTH_METRICS_TOKEN = env_optional_secret("BERTH_METRICS_TOKEN")
# Longest each readiness check (Redis, the workers' answer) may take, in seconds.
BERTH_READYZ_TIMEOUT = env_float("BERTH_READYZ_TIMEOUT", 1.0, minimum=0.1)
