"""Test settings: same components as dev, faster hashing, a file SQLite DB a worker process can open."""

import os

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR

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
