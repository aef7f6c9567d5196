"""Settings shared by every environment. Everything configurable comes from ``env``."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ml.precision import PRECISIONS

from .env import env_bool, env_float, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = env_path("ANNOTATOR_VAR_DIR", BASE_DIR / "var")

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-dev-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "annotator.jobs",
    "annotator.projects",
    "annotator.annotations",
    "annotator.prompting",  # before learning: a new image's embedding is queued before its pre-label
    "annotator.learning",
    "annotator.datasets",
    "annotator.universal",
    "annotator.web",
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
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "annotator" / "templates"],
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
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout rides out
    # short write locks instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env_path("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles")
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [("app", FRONTEND_DIST)]
MEDIA_URL = "/media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if env_str("AWS_STORAGE_BUCKET_NAME", ""):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "default_acl": None,
            "querystring_auth": True,
        },
    }

# Uploads are streamed to temp files beyond this size, so a big zip never sits in RAM.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("ANNOTATOR_MAX_FILES_PER_REQUEST", 500)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/app/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so an unauthenticated request gets 401 with a WWW-Authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Token requests per client address (``auth``); failed sign-ins are slowed further by
    # ``annotator.web.sign_in`` (LOGIN_FAILURES_* below).
    "DEFAULT_THROTTLE_RATES": {"auth": env_str("ANNOTATOR_AUTH_RATE", "30/min")},
}
# Throttle counters and sign-in failures live in the cache: one per process unless DJANGO_CACHE_URL
# names a shared one (redis://...), as production should, so all web workers count together.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_str("DJANGO_CACHE_URL", ""):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("DJANGO_CACHE_URL"),
    }
SPECTACULAR_SETTINGS = {
    "TITLE": "Package annotator API",
    "DESCRIPTION": "Projects, images, annotations, SAM prompts, training and COCO export.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status" field; give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "annotator.projects.models.ImageStatus",
        "JobStatusEnum": "annotator.jobs.models.JobStatus",
        "ModelVersionStatusEnum": "annotator.learning.models.ModelVersion.Status",
    },
}

# --------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "annotator.broker:Transport"  # kombu's, publishing atomically
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,  # seconds between folder scans (kombu's default of 1 s is one task/s)
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker died unacknowledged (acks_late) is redelivered after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # A request that queues a task while Redis is unreachable gives up after this many seconds per
        # attempt, not after the system's TCP timeout (minutes): jobs.enqueue then fails
        # the job saying so, and the request answers.
        "socket_connect_timeout": env_int("CELERY_BROKER_CONNECT_TIMEOUT", 5),
    }
    if env_str("CELERY_REDIS_KEY_PREFIX", ""):
        # Lets several deployments (or concurrent test runs) share one Redis without sharing queues.
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env_str("CELERY_REDIS_KEY_PREFIX")
# Three tries in all (Celery's default is four): with the connect timeout above, a request gives up on
# an unreachable Redis in about 15 s, well inside the image's gunicorn timeout (120 s).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_IGNORE_RESULT = True  # progress and outcomes live in job rows
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 35 * 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
# The one routing table: services queue tasks by name (``annotator.jobs.enqueue``); unlisted tasks
# (feature refreshes, the reaper) go to the default queue.
CELERY_TASK_ROUTES = {
    "annotator.prompting.tasks.compute_embedding": {"queue": "inference"},
    "annotator.learning.tasks.pre_label_image": {"queue": "inference"},
    "annotator.learning.tasks.train_model": {"queue": "training"},
    "annotator.learning.tasks.check_retraining": {"queue": "training"},
    "annotator.learning.tasks.refresh_trust_gate": {"queue": "default"},
    "annotator.learning.tasks.reapply_prelabels": {"queue": "default"},
    "annotator.universal.tasks.train_base_model": {"queue": "training"},
    "annotator.universal.tasks.evaluate_base_for_projects": {"queue": "training"},
    "annotator.universal.tasks.check_base_retraining": {"queue": "default"},
    "annotator.datasets.tasks.export_coco": {"queue": "default"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --------------------------------------------------------------------------- the product's own knobs
ANNOTATOR = {
    "MAX_IMAGE_BYTES": env_int("ANNOTATOR_MAX_IMAGE_BYTES", 50 * 1024 * 1024),
    "MAX_IMAGE_PIXELS": env_int("ANNOTATOR_MAX_IMAGE_PIXELS", 50_000_000),
    "MAX_ZIP_BYTES": env_int("ANNOTATOR_MAX_ZIP_BYTES", 2 * 1024 * 1024 * 1024),
    "MAX_ZIP_MEMBERS": env_int("ANNOTATOR_MAX_ZIP_MEMBERS", 5000),
    "MAX_ZIP_UNCOMPRESSED_BYTES": env_int("ANNOTATOR_MAX_ZIP_UNCOMPRESSED_BYTES", 4 * 1024 * 1024 * 1024),
    "THUMBNAIL_SIZE": 256,
    "LEASE_SECONDS": env_int("ANNOTATOR_LEASE_SECONDS", 600),
    # A running job silent this long is failed by the reaper; keep it above the broker's redelivery
    # delay (CELERY_VISIBILITY_TIMEOUT), so a killed worker's redelivered task finishes the job first.
    "STALE_JOB_SECONDS": env_int("ANNOTATOR_STALE_JOB_SECONDS", 2 * 60 * 60),
    # Silence after which that redelivered task may take the job over (0: min(15 min, the above)).
    "JOB_TAKEOVER_SECONDS": env_int("ANNOTATOR_JOB_TAKEOVER_SECONDS", 0),
    "UNIVERSAL_CHECKPOINT": str(
        env_path("UNIVERSAL_CHECKPOINT", BASE_DIR / "ml" / "checkpoints" / "universal_base.pt")
    ),
    "SAM_MODEL_TYPE": env_str("SAM_MODEL_TYPE", "vit_b"),
    "SAM_CHECKPOINT": env_str("SAM_CHECKPOINT", ""),
    # bf16 on CPUs with native bfloat16 (AMX / AVX512-BF16), else fp32; see ml.prompt.sam.
    "SAM_PRECISION": env_str("SAM_PRECISION", "auto"),
    # torch.compile the click decoder in the background (needs a C++ compiler; falls back if not).
    "SAM_COMPILE": env_bool("SAM_COMPILE", True),
    "PROMPT_ENGINE": env_str("ANNOTATOR_PROMPT_ENGINE", "default"),
    "EMBEDDING_ROOT": str(env_path("ANNOTATOR_EMBEDDING_ROOT", VAR_DIR / "embeddings")),
    "MODEL_ROOT": str(env_path("ANNOTATOR_MODEL_ROOT", VAR_DIR / "models")),
    "AUTO_PRE_LABEL": env_bool("ANNOTATOR_AUTO_PRE_LABEL", True),
    "SEGMENT_THREADS": env_int("ANNOTATOR_SEGMENT_THREADS", 1),  # torch threads for prompt decoding
    "PRELABEL_THREADS": env_int("ANNOTATOR_PRELABEL_THREADS", 1),  # torch threads for a universal pre-label
    # A training run's fine-tuning budget (wall seconds) and optional fixed epoch count.
    "TRAINING_BUDGET_SECONDS": env_int("ANNOTATOR_TRAINING_BUDGET_SECONDS", 600),
    "TRAINING_EPOCHS": env_int("ANNOTATOR_TRAINING_EPOCHS", 0),
    "TRAINING_LR": float(env_str("ANNOTATOR_TRAINING_LR", "0")),  # 0: ml.universal.finetune default
    "TRAINING_THREADS": env_int("ANNOTATOR_TRAINING_THREADS", 2),
    # The universal base (annotator.universal): its gate, its trigger, and the recipe of a base run.
    "UNIVERSAL_GATE_TOLERANCE": env_float(
        "ANNOTATOR_UNIVERSAL_GATE_TOLERANCE", 0.02
    ),  # mask AP a project may lose
    "UNIVERSAL_NEW_IMAGES_THRESHOLD": env_int(
        "ANNOTATOR_UNIVERSAL_NEW_IMAGES_THRESHOLD", 100
    ),  # triggers a run
    "UNIVERSAL_SYNTHETIC_TRAIN_SCENES": env_int("ANNOTATOR_UNIVERSAL_SYNTHETIC_TRAIN_SCENES", 200),
    "UNIVERSAL_SYNTHETIC_VAL_SCENES": env_int("ANNOTATOR_UNIVERSAL_SYNTHETIC_VAL_SCENES", 50),  # fixed seed
    "UNIVERSAL_SCENE_SIZE": env_int("ANNOTATOR_UNIVERSAL_SCENE_SIZE", 256),  # px, square
    "UNIVERSAL_BUDGET_SECONDS": env_float("ANNOTATOR_UNIVERSAL_BUDGET_SECONDS", 1800),  # a base run's cap
    "UNIVERSAL_EPOCHS": env_int("ANNOTATOR_UNIVERSAL_EPOCHS", 0),  # 0: train until the budget is spent
    "UNIVERSAL_LR": env_float("ANNOTATOR_UNIVERSAL_LR", 2e-3),
    # The candidate: the retrained base averaged with the current one, alpha in k / grid (1: no averaging).
    "UNIVERSAL_BLEND_GRID": env_int("ANNOTATOR_UNIVERSAL_BLEND_GRID", 4),
    "UNIVERSAL_SCHEDULE_SECONDS": env_int("ANNOTATOR_UNIVERSAL_SCHEDULE_SECONDS", 6 * 60 * 60),  # beat check
    # A training run starts only with this many accepted images in the train split and in the val split.
    "MIN_TRAINING_IMAGES": env_int("ANNOTATOR_MIN_TRAINING_IMAGES", 10),
    "MIN_VAL_IMAGES": env_int("ANNOTATOR_MIN_VAL_IMAGES", 2),
    # Share of new images put in the val split, chosen by a hash of the image's content (never moved).
    "VAL_FRACTION": env_float("ANNOTATOR_VAL_FRACTION", 0.2),
    # Who may create projects besides staff: the members of this Django group ("" for staff only).
    "PROJECT_CREATOR_GROUP": env_str("ANNOTATOR_PROJECT_CREATOR_GROUP", "project creators"),
    # Sign-in failures (per username and address) before each further attempt waits; the wait doubles
    # with every further failure, up to the cap. Per address alone the limit is higher (spraying).
    "LOGIN_FAILURES_BEFORE_WAIT": env_int("ANNOTATOR_LOGIN_FAILURES_BEFORE_WAIT", 5),
    "LOGIN_FAILURES_PER_ADDRESS": env_int("ANNOTATOR_LOGIN_FAILURES_PER_ADDRESS", 30),
    "LOGIN_WAIT_SECONDS": env_int("ANNOTATOR_LOGIN_WAIT_SECONDS", 30),
    "LOGIN_WAIT_MAX_SECONDS": env_int("ANNOTATOR_LOGIN_WAIT_MAX_SECONDS", 15 * 60),
    # The OpenAPI schema and its docs page need a sign-in unless this is on.
    "API_DOCS_PUBLIC": env_bool("ANNOTATOR_API_DOCS_PUBLIC", False),
}

if ANNOTATOR["SAM_PRECISION"] not in PRECISIONS:
    raise ImproperlyConfigured(f"SAM_PRECISION={ANNOTATOR['SAM_PRECISION']!r}: use {', '.join(PRECISIONS)}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
