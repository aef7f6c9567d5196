"""Fixtures the reliability suite shares with the learning tests: a worker whose training runs are tiny."""

from tests.annotator.learning.conftest import base_checkpoint, training_epochs, training_worker  # noqa: F401
from tests.reliability.worker_kill import slowed  # noqa: F401
