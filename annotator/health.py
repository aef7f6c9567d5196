"""``/healthz``: 200 when the database and the broker answer, 503 naming the failing part."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse

from annotator.celery import app, ensure_broker_folders


def healthz(request):
    checks = {"database": _database(), "broker": _broker()}
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:  # any driver error means "not healthy", reported by name
        return f"error: {type(exc).__name__}: {exc}"


def _broker() -> str:
    try:
        ensure_broker_folders()
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
