"""Test settings: same components as dev, faster hashing, a file SQLite DB a worker process can open."""

import os

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR
from .env import env_int

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# One test database per test process, so concurrent runs on one machine never share it. SQLite
# uses a file (not :memory:) so that a real Celery worker process can open the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_annotator_{os.getpid()}"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Compiling SAM's click decoder costs ~15 s of CPU per process; tests/ml/test_prompt_sam.py
# compiles it once on purpose, everything else decodes without it.
ANNOTATOR["SAM_COMPILE"] = False  # noqa: F405
# The learning tests build projects of a handful of accepted images; the production minimums (10 train,
# 2 val) are checked by tests that set them (tests/annotator/learning/test_training_data.py).
ANNOTATOR["MIN_TRAINING_IMAGES"] = env_int("ANNOTATOR_MIN_TRAINING_IMAGES", 1)  # noqa: F405
ANNOTATOR["MIN_VAL_IMAGES"] = env_int("ANNOTATOR_MIN_VAL_IMAGES", 1)  # noqa: F405
