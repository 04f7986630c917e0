"""Settings for HMIS Portal, read from the environment (SPEC §6).

Unset variables give the embedded default a newcomer runs: SQLite, tasks run
eagerly, mail printed to the console. Production sets DATABASE_URL, REDIS_URL,
SECRET_KEY, ALLOWED_HOSTS and the email settings; `manage.py check --deploy`
is then silent.
"""

import sys
import warnings
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from hmis_portal.core import observability as _observability

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# pytest imports the settings before any test code can set the environment.
RUNNING_TESTS = "pytest" in sys.modules

DEBUG = env.bool("DEBUG", default=False)


def secret(name: str, default: str = "") -> str:
    """A secret from the environment, or from the file NAME_FILE names (a
    Docker or systemd secret). An error names the variable and the file,
    never the value."""
    file_name = f"{name}_FILE"
    path = env(file_name, default="")
    if not path:
        return env(name, default=default)
    if name in env.ENVIRON:
        raise ImproperlyConfigured(f"{name} is set twice: both {name} and {file_name} are given. Keep one.")
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{file_name} cannot be read ({exc.strerror}): {path}.") from None


def _parsed_url(name: str, url: str, parse, schemes) -> dict:
    """Parse a URL that may carry a password; a URL the portal cannot use is
    refused with a message that names the variable and the schemes it takes,
    never the URL itself."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(f"{name} is not a URL the portal can use: it must start with one of "
                                   f"{', '.join(sorted(s + '://' for s in schemes))} (its value is not shown).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parse(url)
    except Exception:  # noqa: BLE001 - whatever the parser says may quote the password
        raise ImproperlyConfigured(f"{name} cannot be parsed (its value is not shown).") from None


SECRET_KEY = secret("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or RUNNING_TESTS):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production needs a long random SECRET_KEY in the "
            "environment; for local work set DEBUG=true instead."
        )
    SECRET_KEY = "insecure-local-only-key-never-used-with-debug-off"
# Former keys, while a new SECRET_KEY is rolled out: what they signed or sealed
# (sessions, password resets, webhooks' signing secrets) still reads.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
if not (DEBUG or RUNNING_TESTS) and "ALLOWED_HOSTS" not in env.ENVIRON:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set. List the portal's host names, comma-separated.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Django's form widget templates, for FORM_RENDERER below.
    "django.forms",
    "crispy_forms",
    "crispy_bootstrap5",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "django_structlog",
    "django_prometheus",
    # The shared core first: every app may use it, it uses no app.
    "hmis_portal.core",
    # Sign-in rules (second factor, idle timeout, lockout key, headers): shared too.
    "accounts.signin",
    # API keys (a person's keys for the API): part of accounts, like sign-in.
    "accounts.apikeys",
    # One app per stage of the CoC's process (SPEC §5); demo data and home-page
    # tasks are gathered from them in this order.
    "accounts",
    "onboarding",
    "training",
    "hmis_access",
    "hmis_accounts",
    "referrals",
    "partnerships",
    # The composition root: the load_policy command that loads every app's section of a policy pack.
    "hmis_portal",
]

MIDDLEWARE = [
    # The request's memo of what every page reads (hmis_portal/core/cached.py): first, before anything reads.
    "hmis_portal.core.cached.RequestMemoMiddleware",
    # Request counts and latencies for /metrics (and, last below, their outcome).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The request's id, on every log line and in the response (observability.py).
    "hmis_portal.core.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The container's probe asks 127.0.0.1, not a host the portal serves: /healthz
    # answers before the host check (it builds nothing from the Host).
    "hmis_portal.core.middleware.HealthProbeMiddleware",
    # /metrics answers before the host check too, to the machine itself or a token.
    "hmis_portal.core.metrics.MetricsMiddleware",
    # After the probes, so that they do not write two log lines every few seconds.
    "django_structlog.middlewares.RequestMiddleware",
    "hmis_portal.core.middleware.RequestSizeLimitMiddleware",
    # Before anything reads the database: a NUL byte anywhere is a 400.
    "hmis_portal.core.inputs.RejectNulBytesMiddleware",
    "csp.middleware.CSPMiddleware",
    # Outside the rest so that it also marks the redirects they return.
    "accounts.signin.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # django-otp's, with the verified device read through the cache.
    "accounts.signin.middleware.VerifiedDeviceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.signin.middleware.IdleTimeoutMiddleware",
    "accounts.signin.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks, so that it sees the outcome of every login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hmis_portal.urls"
WSGI_APPLICATION = "hmis_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hmis_portal.core.context_processors.portal",
                "accounts.signin.context_processors.sign_in",
                "accounts.context_processors.menu",
            ],
            # |deadline, |moment and |day word dates one way on every page and email.
            # {% url %} and {% static %} with the addresses worked out once (core/addresses.py): the
            # portal's templates load no `static` library (Django's would take the tag's place).
            "builtins": ["hmis_portal.core.templatetags.portal_dates", "hmis_portal.core.templatetags.portal_urls",
                         "hmis_portal.core.templatetags.portal_static"],
        },
    },
]

# Form widgets are rendered with the templates above, so the portal's templates/
# come first: the admin's date and time inputs are labelled there
# (templates/admin/widgets/split_datetime.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# DATABASE_URL (or DATABASE_URL_FILE); a password may come on its own from
# DATABASE_PASSWORD or DATABASE_PASSWORD_FILE, so the URL needs none.
DATABASES = {
    "default": _parsed_url("DATABASE_URL", secret("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
                           env.db_url_config, {"postgres", "postgresql", "pgsql", "sqlite"}),
}
if _database_password := secret("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = _database_password
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend whose check of a reused connection costs no round trip
    # (hmis_portal/core/postgresql/base.py): the barest page asks the database
    # for the person and their authenticator, not `SELECT 1` first.
    DATABASES["default"]["ENGINE"] = "hmis_portal.core.postgresql"
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # SQLite: wait for a writer instead of failing at once (eager tasks and the
    # dev server share the file).
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user would need an email address; nobody anonymous is
# ever granted anything here.
ANONYMOUS_USER_NAME = None

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock a user name out after repeated failures from one address (SPEC §7, bad input).
# The name is the email address as sign-in reads it (any case), the address is
# the client's, read through TRUSTED_PROXY_COUNT proxies (accounts/signin/lockout.py).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.signin.lockout.username"
AXES_CLIENT_IP_CALLABLE = "accounts.signin.lockout.client_ip"
# How many proxies of our own stand in front of the portal, each appending to
# X-Forwarded-For. 0: the connection's address is the client's and the header
# is ignored. The docker-compose shape (Caddy in front) is 1.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# The public Join page: requests to join one client address may send an hour
# (counted in the database, per address as the lockout reads it).
JOIN_REQUESTS_PER_HOUR = env.int("JOIN_REQUESTS_PER_HOUR", default=10)

# The API (/api/v1/, hmis_portal/api.py): Django REST framework with
# drf-spectacular. A request authenticates with an API key alone (never the
# session, so no page can be made to call it), needs the view's scope, and
# each key may make API_KEY_REQUESTS_PER_MINUTE requests a minute.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.apikeys.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated",
                                   "accounts.apikeys.permissions.KeyHasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.apikeys.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HMIS Portal API",
    "DESCRIPTION": "The portal's API. Send an API key as `Authorization: Bearer <key>`; a key does what its "
                   "owner may in the portal, within its scopes.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema itself is public: it describes the API, never its data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}
API_KEY_REQUESTS_PER_MINUTE = env.int("API_KEY_REQUESTS_PER_MINUTE", default=60)
# Login activity sent by API: the most logins one batch may carry, and its
# largest body (each batch is applied all or nothing, in one transaction).
HMIS_LOGIN_BATCH_MAX = env.int("HMIS_LOGIN_BATCH_MAX", default=5000)
HMIS_LOGIN_BATCH_MAX_BYTES = env.int("HMIS_LOGIN_BATCH_MAX_BYTES", default=1024 * 1024)

# Two factors: CoC staff always, for the whole portal and the admin alike, and
# agency users when the sign-in policy says so or they turned it on
# (accounts/signin/middleware.py, the one gate).
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="HMIS Portal")

LANGUAGE_CODE = "en-us"
# Every date the CoC's policy speaks of is a date in its own time zone (SPEC §4).
TIME_ZONE = env("TIME_ZONE", default="America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Locally and under tests whitenoise serves straight from static/; production
# serves the collected, hashed, compressed files.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = DEBUG or RUNNING_TESTS

# Uploaded documents hold signatures and client-adjacent data: they live in a
# storage with no public URL and are served only by views that check access.
# A deployment with several web nodes points PRIVATE_STORAGE_BACKEND at
# django-storages' S3 backend and passes its options as JSON.
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_MEDIA_ROOT), "base_url": None},
    },
    "private": {
        "BACKEND": env("PRIVATE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env.json("PRIVATE_STORAGE_OPTIONS", default={"location": str(PRIVATE_MEDIA_ROOT)}),
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or RUNNING_TESTS
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
# The HMIS login report (CSV, about 35 bytes a user): room for a million users.
LOGIN_REPORT_MAX_BYTES = env.int("LOGIN_REPORT_MAX_BYTES", default=64 * 1024 * 1024)
# Pages whose uploads stream up to another limit than DOCUMENT_MAX_BYTES.
UPLOAD_MAX_BYTES_BY_VIEW = {"admin:hmis_access_hmisaccount_import_logins": LOGIN_REPORT_MAX_BYTES}
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Uploads are streamed: a request under 2.5 MB stays in memory, a larger file
# goes to a temporary file that stops growing at DOCUMENT_MAX_BYTES (the form
# then says the file is too big). Form fields besides files are capped by
# DATA_UPLOAD_MAX_MEMORY_SIZE above.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "hmis_portal.core.documents.SizeLimitedUploadHandler",
]
FILE_UPLOAD_PERMISSIONS = 0o600
# The largest request body, read by the portal (a larger one is refused with
# 413 before it is read: hmis_portal.core.limits) and by the proxy in front
# (deploy/Caddyfile, `max_size {$REQUEST_MAX_BYTES}`): one number. Room for the
# largest upload above, the login report, and the form around it.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=LOGIN_REPORT_MAX_BYTES + 1024 * 1024)
# How many gunicorn worker processes serve pages: gunicorn reads the same
# variable when given no --workers. A per-process cache with several of them
# would count the Join page's limit and the API throttle once per process.
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=1)

# Celery: Redis as broker when REDIS_URL is set, otherwise every task runs
# eagerly in the process that queued it (the embedded default).
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request must not hang on a broker that is down or frozen: a publish is
# tried once (no retries) and each socket operation waits at most a second or
# two; the outbox keeps the message and the periodic delivery job sends it later.
BROKER_SOCKET_TIMEOUT = env.float("BROKER_SOCKET_TIMEOUT", default=2.0)
BROKER_CONNECT_TIMEOUT = env.float("BROKER_CONNECT_TIMEOUT", default=1.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": BROKER_SOCKET_TIMEOUT,
    "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
    "max_retries": 0,
}
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT
# No result backend is used (results are ignored); should one be set, it gets
# the same bounds.
CELERY_REDIS_SOCKET_TIMEOUT = BROKER_SOCKET_TIMEOUT
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_CONNECT_TIMEOUT
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 0}}
# A task that hangs (a mail server that accepts and never answers, a lock)
# must not hold a worker process forever: soft limit raises in the task, the
# hard limit replaces the process. Periodic jobs (sweeps) get longer limits.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
SWEEP_SOFT_TIME_LIMIT = env.int("SWEEP_SOFT_TIME_LIMIT", default=600)
SWEEP_TIME_LIMIT = env.int("SWEEP_TIME_LIMIT", default=660)
# The HMIS inactivity sweep and the referral timeliness sweep each run as this
# many chunks (ranges of account or referral ids), taken by as many workers as
# are free; each chunk gets the sweep limits.
SWEEP_CHUNKS = env.int("SWEEP_CHUNKS", default=4)
# A task whose worker process dies (killed, out of memory, hard time limit) is
# put back on the queue rather than acknowledged and lost. This is safe because
# every task is idempotent: deliveries claim their row with a conditional
# UPDATE, sweeps change only rows still in the old state and write
# notifications with dedupe keys.
CELERY_TASK_REJECT_ON_WORKER_LOST = True


def _sweep_annotations():
    from hmis_portal.schedule import JOBS

    limits = {"soft_time_limit": SWEEP_SOFT_TIME_LIMIT, "time_limit": SWEEP_TIME_LIMIT}
    return {job.task: limits for job in JOBS}


CELERY_TASK_ANNOTATIONS = _sweep_annotations()
# Redis gives an unacknowledged task (its worker was killed) to another worker
# after the visibility timeout, an hour by default. Just above the longest hard
# time limit, no task still running is given out twice, and a killed worker's
# task comes back within minutes. (No task is queued with a countdown or ETA,
# which would have to stay under it too.)
LONGEST_TASK_TIME_LIMIT = max([CELERY_TASK_TIME_LIMIT, SWEEP_TIME_LIMIT,
                               *(limits["time_limit"] for limits in CELERY_TASK_ANNOTATIONS.values())])
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = LONGEST_TASK_TIME_LIMIT + env.int(
    "BROKER_VISIBILITY_MARGIN", default=60)
CELERY_TIMEZONE = TIME_ZONE
# The database schedule, with a heartbeat file for the container probe.
CELERY_BEAT_SCHEDULER = "hmis_portal.beat:HeartbeatScheduler"

CACHES = {
    "default": (
        # An outage of Redis is a miss, not an error page (hmis_portal/core/cache_backend.py).
        {"BACKEND": "hmis_portal.core.cache_backend.ResilientRedisCache", "LOCATION": REDIS_URL,
         "OPTIONS": {"socket_timeout": BROKER_SOCKET_TIMEOUT, "socket_connect_timeout": BROKER_CONNECT_TIMEOUT}}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Whether the cache is one for every process (Redis), so that a change one
# process makes is seen by all: then sessions are read through the cache (the
# database behind it) and what every page of a person reads (their memberships
# and groups, the policy rows, the holidays) is kept there between requests,
# with explicit invalidation on change (hmis_portal/core/cached.py). With a
# cache per process (locmem, several workers), a sign-out or a policy change in
# one process would go unseen in another: each request then reads them once,
# from the database. The tests run in one process.
SHARED_CACHE = bool(REDIS_URL) or RUNNING_TESTS
# Through the cache, with the database behind it (hmis_portal/core/sessions.py).
SESSION_ENGINE = "hmis_portal.core.sessions" if SHARED_CACHE else "django.contrib.sessions.backends.db"
# How long a kept copy lives at most, should an invalidation ever be missed
# (a change made with raw SQL); every change through the portal is seen at once.
PER_REQUEST_CACHE_SECONDS = env.int("PER_REQUEST_CACHE_SECONDS", default=15 * 60)

# Email: EMAIL_URL (smtp+tls://user:password@host:587, or EMAIL_URL_FILE) in
# production; printed to the console otherwise (refused by check --deploy).
# The password may come on its own: EMAIL_PASSWORD or EMAIL_PASSWORD_FILE.
EMAIL_CONFIG = _parsed_url("EMAIL_URL", secret("EMAIL_URL", default="consolemail://"), env.email_url_config,
                           set(environ.Env.EMAIL_SCHEMES))
if _email_password := secret("EMAIL_PASSWORD"):
    EMAIL_CONFIG["EMAIL_HOST_PASSWORD"] = _email_password
globals().update(EMAIL_CONFIG)
# A mail server that accepts a connection and never answers must not hold a
# worker: every SMTP operation gives up after this many seconds, and the
# message is retried later.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="hmis-portal@example.org")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The CoC's HMIS as a SCIM 2.0 provisioning target. Unset, provisioning stays
# manual: grants record the username typed and no command is queued. The token
# comes from the environment or, better, a secret file (HMIS_SCIM_TOKEN_FILE);
# it is never stored in the database, logged or shown.
HMIS_SCIM_URL = env("HMIS_SCIM_URL", default="").rstrip("/")
HMIS_SCIM_TOKEN = secret("HMIS_SCIM_TOKEN")
# No page waits on the HMIS, and a worker waits this long at most per request.
HMIS_SCIM_CONNECT_TIMEOUT = env.float("HMIS_SCIM_CONNECT_TIMEOUT", default=3.0)
HMIS_SCIM_TIMEOUT = env.float("HMIS_SCIM_TIMEOUT", default=10.0)
# How many delivery runs may talk to the HMIS at once, across all workers.
HMIS_SCIM_CONCURRENCY = env.int("HMIS_SCIM_CONCURRENCY", default=2)
# Webhooks (hmis_portal/core/webhooks.py): each delivery attempt waits this
# long at most for the receiver; a page never waits for one.
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=3.0)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
# A subscription is paused, and its owner told, after this many failed attempts in a row.
WEBHOOK_PAUSE_AFTER_FAILURES = env.int("WEBHOOK_PAUSE_AFTER_FAILURES", default=10)
# A receiver on plain http is refused unless it is on this machine and DEBUG or the tests are on.
WEBHOOK_ALLOW_LOOPBACK_HTTP = DEBUG or RUNNING_TESTS
# Every link and subject in mail is built from it, never from a request's Host.
# check --deploy refuses an http or localhost address with DEBUG off.
PORTAL_BASE_URL = env("PORTAL_BASE_URL", default="http://localhost:8000").rstrip("/")
PORTAL_NAME = env("PORTAL_NAME", default="HMIS Portal")

# Sign-in with the CoC's identity provider (Entra ID, Okta, Google Workspace…)
# by OpenID Connect, with mozilla-django-oidc (accounts/signin/oidc.py). Off
# unless OIDC_ISSUER and OIDC_CLIENT_ID are set: then the sign-in page offers
# "Sign in with OIDC_PROVIDER_NAME" beside the password form. The endpoints
# come from the issuer's discovery document unless given one by one. Nobody is
# created by signing in, except, when OIDC_CREATE_STAFF_DOMAIN names the CoC's
# email domain, CoC staff of that domain (with no group). The provider's
# second factor is taken when the ID token's `amr` holds one of
# OIDC_SECOND_FACTOR_AMR or its `acr` is one of OIDC_SECOND_FACTOR_ACR.
OIDC_ISSUER = env("OIDC_ISSUER", default="").rstrip("/")
OIDC_RP_CLIENT_ID = env("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = secret("OIDC_CLIENT_SECRET")
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", default="your organization's account")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_JWKS_ENDPOINT", default="")
OIDC_OP_END_SESSION_ENDPOINT = env("OIDC_END_SESSION_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env("OIDC_SIGN_ALGORITHM", default="RS256")
OIDC_RP_SCOPES = "openid email profile"
# The portal's own name for the callback URL (accounts/signin/urls.py).
OIDC_AUTHENTICATION_CALLBACK_URL = "signin-provider-callback"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True
OIDC_SECOND_FACTOR_AMR = env.list("OIDC_SECOND_FACTOR_AMR", default=[])
OIDC_SECOND_FACTOR_ACR = env.list("OIDC_SECOND_FACTOR_ACR", default=[])
OIDC_CREATE_STAFF_DOMAIN = env("OIDC_CREATE_STAFF_DOMAIN", default="").strip().lower()
# Providers that send no email_verified (Microsoft Entra ID): the email domains
# the CoC's own directory vouches for. Empty: such a sign-in is refused.
OIDC_VERIFIED_EMAIL_DOMAINS = [d.strip().lower() for d in env.list("OIDC_VERIFIED_EMAIL_DOMAINS", default=[])]
# No sign-in waits longer than this on the provider, per request.
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
# Clocks differ a little: an ID token is taken this many seconds past its expiry, and no more.
OIDC_CLOCK_LEEWAY = env.int("OIDC_CLOCK_LEEWAY", default=30)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security. Production defaults are strict.
_secure = not (DEBUG or RUNNING_TESTS)
# X-Forwarded-Proto says the request came over HTTPS. Anyone can send it, so it
# is believed only when a TLS proxy is in front (BEHIND_TLS_PROXY) and the
# portal cannot be reached but through it (docker-compose: web is not
# published, gunicorn's --forwarded-allow-ips names the proxy alone).
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
# The container's health check asks over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_secure)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_secure)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_secure)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# The longest a session lasts however active (a working day); the idle
# timeout is the CoC's sign-in policy (IdleTimeoutMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere (scripts are static files), so nothing an
# attacker slips into a page can run; no framing, no form posting elsewhere.
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
    },
}
# Signing out (a form) goes on to the identity provider to end its session
# there too: the browser must be allowed to follow that redirect.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] += sorted(
    {"/".join(url.split("/", 3)[:3]) for url in (OIDC_ISSUER, OIDC_OP_END_SESSION_ENDPOINT) if "://" in url})

# Observability (hmis_portal/core/observability.py and metrics.py).
# Logs: structlog, one JSON object a line with DEBUG off (LOG_JSON overrides),
# readable lines with it on; stdlib loggers go through the same formatter. Each
# line of a request carries its request_id (a well-formed incoming X-Request-ID
# or a new one, returned in the response), and so do the lines of the Celery
# tasks it queues. A database outage is one line per kind of failure and
# minute, not a traceback per request.
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = _observability.logging_config(json_lines=LOG_JSON, level=env("LOG_LEVEL", default="INFO"))
_observability.configure_structlog(json_lines=LOG_JSON)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# RequestIdMiddleware has already replaced a malformed X-Request-ID.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
# The client address as django-ipware guesses it can be forged through
# X-Forwarded-For; the sign-in lockout reads it the trusted way.
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
# Logging never loads the signed-in person (a query that fails again during a
# database outage): observability.loaded_user_id adds the id when the request
# already loaded them.
DJANGO_STRUCTLOG_USER_ID_FIELD = None
# Error reporting (sentry-sdk): off unless SENTRY_DSN (or SENTRY_DSN_FILE) is
# set; no personal data is sent and email addresses are scrubbed.
SENTRY_DSN = secret("SENTRY_DSN")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
if not RUNNING_TESTS:
    _observability.init_error_reporting(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT,
                                        release=env("SENTRY_RELEASE", default=None))
# /metrics (Prometheus) answers the machine itself, or a scrape with
# "Authorization: Bearer <METRICS_TOKEN>" (or METRICS_TOKEN_FILE).
METRICS_TOKEN = secret("METRICS_TOKEN")
