"""Settings, read from the environment only (django-environ). See .env.example.

Without DATABASE_URL the platform runs on an embedded SQLite file in var/ and a
filesystem Celery broker, so `make run` needs nothing but Python. Production and the
test suite use PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Embedded database, broker folders and beat schedule of `make run` live here.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # Refuse to run a production configuration with a guessable key.
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "casino_platform.apps.StaffAdminConfig",  # the admin, on a site that asks for the second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # staff sign-in's failed attempts and lockouts (below)
    "django_otp",  # staff sign-in's second factor (below)
    "casino_platform.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp
    "casino_platform.apps.BackupCodesConfig",  # django_otp.plugins.otp_static
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "casino_platform.apps.PlatformConfig",  # its deploy checks (casino_platform/checks.py), the staff set-up time
    "ledger",
    "players",
    "provider",
    "sessions.apps.GameSessionsConfig",
    "wallet",
]

MIDDLEWARE = [
    "casino_platform.tracing.TraceIdMiddleware",
    "casino_platform.metrics.WalletMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor passed
    "casino_platform.sign_in.staff_session_idle_end",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "casino_platform.admin.refuse_nul_in_admin_queries",
    # Last, as django-axes asks: turns a locked-out sign-in into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "casino_platform.urls"
WSGI_APPLICATION = "casino_platform.wsgi.application"
ASGI_APPLICATION = "casino_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own: admin/base_site.html here is the admin's, with the link to a
        # member of staff's backup codes.
        "DIRS": [BASE_DIR / "casino_platform" / "templates"],
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

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'casino.sqlite3'}"),
}
# A Unix socket's directory is written percent-encoded in a URL's host
# (postgres://user@%2Fvar%2Frun%2Fpostgresql/casino), which django-environ keeps as written;
# libpq needs the directory. On the database's own machine the socket costs less CPU per
# statement than TCP over loopback (docs/performance.md).
if "%" in DATABASES["default"].get("HOST", ""):
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
    # failing with "database is locked" halfway through a money transaction.
    # WAL: a reader (a report's export, the admin's lists) never blocks a writer's commit,
    # nor a writer the readers; in the default rollback journal an open read held every bet.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend with a health check that polls the socket instead of SELECT 1.
        DATABASES["default"]["ENGINE"] = "casino_platform.postgresql"
    # Server-side binding sends parameters apart from the SQL; with a prepare threshold psycopg
    # prepares a statement once it has run that many times on a connection, and PostgreSQL
    # stops parsing and planning it (without server-side binding nothing is prepared). Django
    # turns preparing off unless told. Behind a pooler in transaction mode, set
    # DATABASE_PREPARE_THRESHOLD empty unless it supports prepared statements (PgBouncer 1.22+
    # with max_prepared_statements > 0). Measured in docs/performance.md.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # libpq waits for an unreachable server as long as TCP retries (minutes): /health would
    # hang instead of answering 503, and every request with it.
    _options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_SECONDS", default=5))
    _options["server_side_binding"] = env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    _prepare_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip()
    _options["prepare_threshold"] = (
        None if _prepare_threshold.lower() in ("", "none", "off") else int(_prepare_threshold)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Django 6's default now: a URL typed without a scheme is https.
FORMS_URLFIELD_ASSUME_HTTPS = True

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default is ./control, wherever the process was started.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    # kombu's Redis transport waits for ever on a socket unless told (it passes None over
    # redis-py's defaults, and ignores connect_timeout): a broker that drops packets, or a
    # pooled connection left half-open by a failover, froze /health, every request that
    # queues a task after its commit, and beat with all its sweeps. The read timeout stays
    # above kombu's 1 s BRPOP wait, which a worker's consumer spends blocked on purpose.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT_SECONDS", default=2.0),
        "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT_SECONDS", default=5.0),
        "socket_keepalive": True,
    }
# A task queued after a commit is a nudge the outbox's sweep repeats: one quick retry (a
# pooled connection gone stale), not Celery's default of three more with growing waits in
# the request's thread.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
# Tests give each run its own queue, so a stray worker of another run never takes its tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# The long tasks (the hourly reconcile and the monitoring's nightly re-read) have a queue of
# their own, so that a worker busy with them for minutes does not hold up partners'
# deliveries, the sweeps and the cashier's events behind them. The monitoring sweep stays on
# the default queue though its limit is long: it runs every minute and expires after one, so
# behind a reconcile each of its runs would be thrown away. A worker started without -Q takes
# both queues; `make run` and compose start one worker for each.
CELERY_LONG_TASK_QUEUE = env.str("CELERY_LONG_TASK_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-long")
# Each queue its own exchange and routing key (as Celery makes the default queue): two queues
# bound alike would each get every task.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in (CELERY_TASK_DEFAULT_QUEUE, CELERY_LONG_TASK_QUEUE)
)
CELERY_TASK_ROUTES = {
    task: {"queue": CELERY_LONG_TASK_QUEUE}
    for task in (
        "ledger.tasks.ledger_reconcile_task",
        "wallet.tasks.monitoring_reread_task",
    )
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task may run this long before it is interrupted (SoftTimeLimitExceeded), and 30 s more
# before its process is killed. An HTTP timeout bounds each read, not a whole answer: a
# partner trickling one byte at a time would otherwise hold a worker, and with it every sweep,
# for ever. An interrupted delivery is retried like a timeout; nothing it sends moves twice.
# The hourly reconciliation and the nightly re-read have CELERY_LONG_TASK_TIME_LIMIT_SECONDS.
# Both stay under Redis's visibility timeout (an hour), after which a task is given again.
# They travel in each task's message, set by the process that sends it (web, beat, worker),
# and only the prefork pool (production's) enforces them.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT_SECONDS", default=120)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30
CELERY_LONG_TASK_TIME_LIMIT_SECONDS = env.int("CELERY_LONG_TASK_TIME_LIMIT_SECONDS", default=1800)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
RECONCILE_INTERVAL_SECONDS = env.float("RECONCILE_INTERVAL_SECONDS", default=3600.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "ledger-reconcile": {
        "task": "ledger.tasks.ledger_reconcile_task",
        "schedule": RECONCILE_INTERVAL_SECONDS,
        # A whole-journal read: after a worker outage one is enough, not one per hour missed.
        "options": {"expires": RECONCILE_INTERVAL_SECONDS},
    },
}

# --- Caches -------------------------------------------------------------------------------
# A Redis that stops answering fails a cache call after this long instead of holding the
# request (redis-py waits for ever by default): the rate limits then let calls through.
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=1.0)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
# Staff messages in the session, not in a cookie: one of them shows a provider's new secret
# once, which a cookie would keep, readable, in the browser until the next page.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
X_FRAME_OPTIONS = "DENY"
# The wallet contract refuses bodies over 64 KiB (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# --- Staff sign-in ---------------------------------------------------------------------
# The back office moves money: a password is not guessed at leisure (django-axes). After
# STAFF_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that
# username is refused from that address for STAFF_LOGIN_LOCKOUT_MINUTES, the right password
# too (429); the pair, not the username alone, so that nobody locks a colleague out from
# elsewhere. A success forgets the failures. Each failure is in Admin -> Axes -> Access
# failures; a lockout is lifted early with `manage.py axes_reset_username <name>`.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "casino_platform.sign_in.staff_sign_in_address"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # each failure, with its time and address, not only their count
# A staff session ends after STAFF_SESSION_IDLE_MINUTES without a back-office request (PCI DSS
# asks 15 for consoles that reach payment data): each one moves the end on, at most once a
# minute (casino_platform.sign_in.staff_session_idle_end).
SESSION_COOKIE_AGE = env.int("STAFF_SESSION_IDLE_MINUTES", default=15) * 60
# A lockout lasts STAFF_LOGIN_LOCKOUT_MINUTES from the last attempt: one made while locked out,
# the right password's too, starts it again (django-axes' default, kept: a guesser who keeps
# going stays out).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
# Sign-in failures are kept this many days (a year: PCI DSS keeps audit logs that long), then
# deleted nightly with the ended sessions (casino_platform.tasks).
STAFF_SIGN_IN_LOG_DAYS = env.int("STAFF_SIGN_IN_LOG_DAYS", default=365)
# After the password, the back office asks for a second factor (django-otp): a code from an
# authenticator app (TOTP, RFC 6238), set up at the first sign-in, or one of the ten backup
# codes given then (casino_platform.second_factor). PCI DSS asks it of every access to the
# systems that reach payment data. Off only where the back office sits behind a single sign-on
# that asks its own (STAFF_SECOND_FACTOR=off).
STAFF_SECOND_FACTOR = env.bool("STAFF_SECOND_FACTOR", default=True)
# A member of staff without an app sets one up with their password alone only this long after
# joining or after an administrator's reset (`manage.py second_factor_reset`): a password
# learnt later does not make the back office the learner's.
STAFF_SECOND_FACTOR_SET_UP_HOURS = env.int("STAFF_SECOND_FACTOR_SET_UP_HOURS", default=72)
OTP_TOTP_ISSUER = env("STAFF_SECOND_FACTOR_ISSUER", default="Casino platform back office")
# Wrong codes wait 1, 2, 4, 8... seconds before the next is checked (django-otp's throttle).
OTP_TOTP_THROTTLE_FACTOR = OTP_STATIC_THROTTLE_FACTOR = 1
# The admin never shows a colleague's authenticator key or its QR code: whoever saw it could
# make their codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

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
# Never empty: the tests' live server would then treat every path as a media file and bypass
# the application it wraps (casino_platform.wsgi's front for the wallet callbacks).
MEDIA_URL = "media/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "casino_platform.api.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "casino_platform.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Casino Platform API",
    "DESCRIPTION": "Wallet API v1 for game providers and the operator API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public: no authentication at all, so that a request carrying an
    # operator's `Authorization: Token ...` (a client's default headers) is not refused as an
    # unknown DRF token (401).
    "SERVE_AUTHENTICATION": [],
    # Several enums are named after a `status` field: the withdrawal's and the round's are
    # named for what they are.
    "ENUM_NAME_OVERRIDES": {
        "WithdrawalStatusEnum": "wallet.models.Withdrawal.Status",
        "RoundStatusEnum": "sessions.models.Round.Status",
        "KycStatusEnum": ["unverified", "pending", "verified", "rejected"],  # Player.KycStatus
    },
}

# --- Domain settings ----------------------------------------------------------------------
SANDBOX_PROVIDER_SECRET = env.str("SANDBOX_PROVIDER_SECRET", default="sandbox-secret")
SANDBOX_OPERATOR_TOKEN = env.str("SANDBOX_OPERATOR_TOKEN", default="sandbox-operator-token")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"trace_id": {"()": "casino_platform.tracing.TraceIdFilter"}},
    "formatters": {
        "json": {"()": "casino_platform.tracing.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["trace_id"],
            "formatter": env.str("LOG_FORMAT", default="json"),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Game sessions: sliding idle expiry with an absolute cap.
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT_SECONDS = env.int("SESSION_ABSOLUTE_TIMEOUT_SECONDS", default=12 * 3600)
# Responsible gambling: a looser loss, deposit or session time limit, or its removal, waits this long (a cooling-off
# period; 0 puts it in force at once); a stricter one applies at once. The sweep that puts
# waiting limits in force runs this often (a late sweep only keeps the stricter limit longer).
RG_LIMIT_INCREASE_DELAY_SECONDS = env.int("RG_LIMIT_INCREASE_DELAY_SECONDS", default=24 * 3600)
if not 0 <= RG_LIMIT_INCREASE_DELAY_SECONDS <= 366 * 24 * 3600:
    raise ImproperlyConfigured("RG_LIMIT_INCREASE_DELAY_SECONDS must be between 0 and a year.")
RG_LIMIT_SWEEP_SECONDS = env.float("RG_LIMIT_SWEEP_SECONDS", default=60.0)
# The shortest self-exclusion a player may start through the operator API, in days. Regulators
# set their own (the UKGC's: six months); below a day is a time-out's job, which has no minimum.
RG_SELF_EXCLUSION_MIN_DAYS = env.int("RG_SELF_EXCLUSION_MIN_DAYS", default=1)
if not 0 <= RG_SELF_EXCLUSION_MIN_DAYS <= 10 * 366:
    raise ImproperlyConfigured("RG_SELF_EXCLUSION_MIN_DAYS must be between 0 and ten years.")
# The UKGC's "positive action to resume": a self-exclusion that has ended still refuses play
# until the player asks to play again (the operator API's self-exclusion/resume, or staff on
# the player's call), and then for RG_SELF_EXCLUSION_RESUME_DELAY_HOURS more (the UKGC's one
# day of cooling-off). Off, play resumes at the self-exclusion's end. The setting in force when
# a self-exclusion starts decides how that one ends, extended or not, so that turning it on or
# off does not end one under way (those in force when players/0018 ran follow it as it was then).
RG_SELF_EXCLUSION_RESUME_ON_REQUEST = env.bool("RG_SELF_EXCLUSION_RESUME_ON_REQUEST", default=True)
RG_SELF_EXCLUSION_RESUME_DELAY_HOURS = env.int("RG_SELF_EXCLUSION_RESUME_DELAY_HOURS", default=24)
if not 0 <= RG_SELF_EXCLUSION_RESUME_DELAY_HOURS <= 366 * 24:
    raise ImproperlyConfigured("RG_SELF_EXCLUSION_RESUME_DELAY_HOURS must be between 0 and a year.")
CELERY_BEAT_SCHEDULE["staff-sign-in-housekeeping"] = {
    "task": "casino_platform.tasks.staff_sign_in_housekeeping_task",
    "schedule": crontab(hour=2, minute=30),
}
CELERY_BEAT_SCHEDULE["players-rg-limit-sweep"] = {
    "task": "players.tasks.rg_limits_apply_due_task",
    "schedule": RG_LIMIT_SWEEP_SECONDS,
}
# Anti-money-laundering: money leaves only for a player whose identity the casino has verified
# (Player.kyc_status, set through the operator API or the admin). Off, the platform leaves the
# check to the casino; a platform upgraded with players whose status is not loaded yet needs it
# off until it is, or their withdrawals are refused.
KYC_REQUIRED_FOR_WITHDRAWALS = env.bool("KYC_REQUIRED_FOR_WITHDRAWALS", default=True)
# Anti-money-laundering monitoring (wallet/services/monitoring.py): a beat sweep reads the
# journal for the currencies' "flag wins above", "flag deposits in 24 hours above" and "flag
# withdrawals after wagering below". Each sweep reads again the settle time before where the
# last one ended, for movements stamped before they committed (a debit waiting on its
# wallet's lock, say).
MONITORING_SWEEP_SECONDS = env.float("MONITORING_SWEEP_SECONDS", default=60.0)
MONITORING_SETTLE_SECONDS = env.int("MONITORING_SETTLE_SECONDS", default=600)
if MONITORING_SETTLE_SECONDS < 0:
    raise ImproperlyConfigured("MONITORING_SETTLE_SECONDS must be 0 or more.")
CELERY_BEAT_SCHEDULE["wallet-monitoring-sweep"] = {
    "task": "wallet.tasks.monitoring_sweep_task",
    "schedule": MONITORING_SWEEP_SECONDS,
}
# Yesterday read again at 01:00 UTC: for a movement that took longer than the settle time to commit.
CELERY_BEAT_SCHEDULE["wallet-monitoring-reread"] = {
    "task": "wallet.tasks.monitoring_reread_task",
    "schedule": crontab(hour=1, minute=0),
}
# On PostgreSQL a provider's debit, credit and rollback each run as one database function
# (one round trip); off, they run the Python path that SQLite uses. Both give the same
# answers (wallet/tests/test_*_in_database.py).
WALLET_DEBIT_IN_DATABASE = env.bool("WALLET_DEBIT_IN_DATABASE", default=True)
WALLET_CREDIT_IN_DATABASE = env.bool("WALLET_CREDIT_IN_DATABASE", default=True)
WALLET_ROLLBACK_IN_DATABASE = env.bool("WALLET_ROLLBACK_IN_DATABASE", default=True)

# Fernet key that encrypts provider secrets at rest. Generate one with
#   python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
PROVIDER_SECRET_KEY = env.str("PROVIDER_SECRET_KEY", default="")
# How long a process may keep a provider's registry row and secrets before rereading them.
PROVIDER_CACHE_SECONDS = env.float("PROVIDER_CACHE_SECONDS", default=5.0)
# Allowed distance of X-Timestamp from the platform's clock (contract section 1).
WALLET_SIGNATURE_WINDOW_SECONDS = env.int("WALLET_SIGNATURE_WINDOW_SECONDS", default=300)
# Where launch URLs of sandbox sessions point (the sandbox game page).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# Outbound deliveries (the platform as a provider): capped exponential backoff with jitter.
OUTBOUND_RETRY_BASE_SECONDS = env.float("OUTBOUND_RETRY_BASE_SECONDS", default=2.0)
OUTBOUND_RETRY_CAP_SECONDS = env.float("OUTBOUND_RETRY_CAP_SECONDS", default=300.0)
OUTBOUND_FLAG_AFTER_ATTEMPTS = env.int("OUTBOUND_FLAG_AFTER_ATTEMPTS", default=10)
# A worker that dies mid-delivery leaves a lease; the sweep retries after it runs out.
OUTBOUND_LEASE_SECONDS = env.float("OUTBOUND_LEASE_SECONDS", default=30.0)
# A debit to a partner still being sent, or a dice or slot round still open, this long past
# the partner's own timeouts lost the request that sent it: the sweep rolls the stake back.
OUTBOUND_STRANDED_AFTER_SECONDS = env.float("OUTBOUND_STRANDED_AFTER_SECONDS", default=60.0)
# The sweep also sends every retry that has come due, so it is the retries' clock too.
OUTBOUND_SWEEP_SECONDS = env.float("OUTBOUND_SWEEP_SECONDS", default=2.0)
CELERY_BEAT_SCHEDULE["outbound-sweep"] = {
    "task": "provider.tasks.outbound_sweep_task",
    "schedule": OUTBOUND_SWEEP_SECONDS,
}

# The casino's payment system hears of every change of a withdrawal's status (held, approved,
# rejected, cancelled, returned) as a signed POST to this URL, instead of polling for it
# (wallet/services/webhooks.py). Empty: nothing is posted; the events are still written, for
# the feed (GET /api/v1/withdrawal-events). The secret signs each POST as
# the contract signs a wallet call; a URL without one fails the system checks. Deliveries
# retry with the OUTBOUND_* backoff, lease and sweep above.
CASHIER_WEBHOOK_URL = env.str("CASHIER_WEBHOOK_URL", default="")
CASHIER_WEBHOOK_SECRET = env.str("CASHIER_WEBHOOK_SECRET", default="")
CASHIER_WEBHOOK_TIMEOUT_SECONDS = env.float("CASHIER_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE["withdrawal-events-sweep"] = {
    "task": "wallet.tasks.withdrawal_event_sweep_task",
    "schedule": OUTBOUND_SWEEP_SECONDS,
}

# GET /metrics (Prometheus) is open unless this is set; then it needs
# `Authorization: Bearer <METRICS_TOKEN>`. With several worker processes also set the
# environment variable PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself): an
# existing directory, emptied before the server starts. See .env.example.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# The partner casino whose wallet the sandbox game page and `simulate` play against by
# default: this platform's own wallet API (seed_sandbox creates it).
SANDBOX_PARTNER = env.str("SANDBOX_PARTNER", default="self")
# The address seed_sandbox gives that partner: where the platform's own processes (the web
# server's sandbox page, the Celery worker delivering wins) reach its wallet API. Empty:
# PUBLIC_BASE_URL, which a player's browser uses; containers reach each other at another
# address (docker-compose.yml: http://web:8000).
SANDBOX_PARTNER_URL = env.str("SANDBOX_PARTNER_URL", default="")
# How long a process may answer from its cached view of the operator switches.
PLATFORM_SWITCH_CACHE_SECONDS = env.float("PLATFORM_SWITCH_CACHE_SECONDS", default=1.0)
