"""What a test does when a tool it needs is missing from the machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_tool(message: str) -> NoReturn:
    """Skip on a developer's machine; fail under CI, whose ``.ci/run`` installs every tool the suite needs."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run this test")
    pytest.skip(message)
