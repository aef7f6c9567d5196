"""Pages served by Django: the built single-page app, behind login."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import ensure_csrf_cookie


def home(request):
    return redirect("/app/")


@login_required
@ensure_csrf_cookie
def spa(request):
    index = settings.FRONTEND_DIST / "index.html"
    if not index.exists():
        return HttpResponse(
            "The browser UI is not built. Run `make frontend` (npm ci && npm run build in frontend/).",
            status=503,
            content_type="text/plain",
        )
    return HttpResponse(index.read_text(encoding="utf-8"), content_type="text/html")
