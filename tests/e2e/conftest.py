"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.environment import missing_tool

ROOT = Path(__file__).resolve().parents[2]
DIST_INDEX = ROOT / "frontend" / "dist" / "index.html"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "pw-for-tests"  # tests.factories.UserFactory
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# Playwright's sync API keeps an asyncio loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    if not DIST_INDEX.exists():
        pytest.fail("frontend/dist is missing: run `make frontend` (npm ci && npm run build in frontend/)")
    path = chromium_path()
    if path is None:
        missing_tool("Chromium is not installed (apt-get install chromium)")  # .ci/run installs it
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server):
    """``open_page(username)`` → a logged-in page in its own browser context (own cookies)."""
    contexts = []

    def make(username: str, viewport=(1400, 900)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: print(f"[{username}] page error: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and print(f"[{username}] console: {msg.text}"))
        page.goto(f"{live_server.url}/app/")
        page.wait_for_url("**/accounts/login/**")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_url("**/app/**")
        page.get_by_test_id("username").wait_for()
        return page

    yield make
    for context in contexts:
        context.close()
    wait_for_quiet_database()


def wait_for_quiet_database(timeout: float = 10.0) -> bool:
    """Wait until the live server has no request in flight and no other connection to the test database
    is inside a query or a transaction (PostgreSQL).

    A closed browser context does not stop the live server's request in flight: a save that locks its
    rows can still be running when pytest-django truncates every table after the test, and the two then
    deadlock (seen in CI: the TRUNCATE was the one PostgreSQL aborted, and the next test found the last
    one's users). Watching the database alone missed a request still in Python between its queries (seen
    in CI again after test_draw_polygon_rectangle_brush_and_eraser), so the live server's request threads
    (``socketserver.ThreadingMixIn`` runs each in a thread named after ``process_request_thread``) are
    waited for first. Returns whether it got quiet within ``timeout`` seconds; SQLite has nothing to wait for.
    """
    from django.db import connection

    deadline = time.monotonic() + timeout
    while any(t.name.endswith("(process_request_thread)") for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            if cursor.fetchone()[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def save_screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


@pytest.fixture
def fixture_pre_labels(settings, monkeypatch):
    """Run the worker without the shipped universal model, so the flows get the same three
    pre-labels every time (written by ``helpers.fake_pre_labels`` as real Prediction rows).

    The real model's pre-labels depend on its weights (and it may find a different number of
    parcels on these drawn test images); the browser flows test the editor, not the model,
    which has its own tests in tests/ml and tests/annotator/learning.
    """
    missing = str(Path(settings.ANNOTATOR["MODEL_ROOT"]) / "no-shipped-model.pt")
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_CHECKPOINT": missing}
    monkeypatch.setenv("UNIVERSAL_CHECKPOINT", missing)  # read by the worker process at start
