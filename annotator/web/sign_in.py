"""Signing in, slowed after failures: the login pages (the app's and the admin's) and the token endpoint.

Every failed sign-in (Django's ``user_login_failed``, sent by ``authenticate``) is counted per
username and client address, and per address alone, in the cache, and logged with both. Past
``LOGIN_FAILURES_BEFORE_WAIT`` failures (``LOGIN_FAILURES_PER_ADDRESS`` for an address) each further
attempt must wait, ``LOGIN_WAIT_SECONDS`` doubled with every further failure up to
``LOGIN_WAIT_MAX_SECONDS``; until then the pages and the token endpoint answer 429 with
``Retry-After``, even for the right password. A successful sign-in clears its username's count.
The token endpoint is also rate-limited per address (DRF's ``auth`` throttle scope).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

log = logging.getLogger(__name__)

PREFIX = "sign-in-failures"


def client_address(request: Any) -> str:
    """The client's address as DRF's throttles see it (``REMOTE_ADDR``, or X-Forwarded-For per NUM_PROXIES)."""
    return BaseThrottle().get_ident(request) or "unknown"


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    limits = settings.ANNOTATOR
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]  # any length, any characters
    return [
        (f"{PREFIX}:user:{user}:{address}", limits["LOGIN_FAILURES_BEFORE_WAIT"]),
        (f"{PREFIX}:address:{address}", limits["LOGIN_FAILURES_PER_ADDRESS"]),
    ]


def _wait_after(failures: int, allowed: int) -> float:
    if failures < allowed:
        return 0.0
    limits = settings.ANNOTATOR
    return float(
        min(limits["LOGIN_WAIT_MAX_SECONDS"], limits["LOGIN_WAIT_SECONDS"] * 2 ** (failures - allowed))
    )


def sign_in_wait(*, username: str, address: str) -> int:
    """Seconds before ``username`` may try again from ``address`` (0: now)."""
    now = time.time()
    wait = 0.0
    for key, allowed in _keys(username, address):
        state = cache.get(key)
        if state:
            wait = max(wait, state["last"] + _wait_after(state["failures"], allowed) - now)
    return max(0, math.ceil(wait))


def sign_in_failed(*, username: str, address: str) -> None:
    """Count a failed sign-in (and log it with the username and address)."""
    now = time.time()
    failures = 0
    for key, _ in _keys(username, address):
        state = cache.get(key) or {"failures": 0, "last": now}
        state = {"failures": state["failures"] + 1, "last": now}
        # Forgotten after an hour without failures, or once the longest wait has passed.
        cache.set(key, state, timeout=max(3600, 2 * settings.ANNOTATOR["LOGIN_WAIT_MAX_SECONDS"]))
        failures = max(failures, state["failures"])
    wait = sign_in_wait(username=username, address=address)
    log.warning(
        "failed sign-in for username %r from %s (%d recent failures%s)",
        username,
        address,
        failures,
        f"; next attempt allowed in {wait} s" if wait else "",
    )


def sign_in_succeeded(*, username: str, address: str) -> None:
    """Clear the username's failure count from this address (the address's own count stays)."""
    cache.delete(_keys(username, address)[0][0])


def _username_of(credentials: dict) -> str:
    return str(credentials.get("username") or "")[:150]


@receiver(user_login_failed)
def _count_failure(sender: Any, credentials: dict, request: Any = None, **_: Any) -> None:
    if request is not None:
        sign_in_failed(username=_username_of(credentials), address=client_address(request))


@receiver(user_logged_in)
def _clear_failures(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    if request is not None and user is not None:
        sign_in_succeeded(username=user.get_username(), address=client_address(request))


def _wait_message(wait: int) -> str:
    return f"Too many failed sign-ins; try again in {wait} seconds"


def guarded_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A login page view that answers a waiting username/address with 429, Retry-After and the login form."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            username = str(request.POST.get("username", ""))[:150]
            address = client_address(request)
            wait = sign_in_wait(username=username, address=address)
            if wait:
                log.warning("sign-in refused for username %r from %s: wait %d s", username, address, wait)
                response = TemplateResponse(
                    request,
                    "web/login.html",
                    {"throttled": _wait_message(wait), "next": request.POST.get("next", "")},
                    status=429,
                )
                response["Retry-After"] = str(wait)
                return response
        return view(request, *args, **kwargs)

    return wrapped


class TokenApi(ObtainAuthToken):
    """``POST username, password`` → ``{"token": ...}``; 429 with Retry-After while the caller must wait."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", ""))[:150]
        address = client_address(request)
        wait = sign_in_wait(username=username, address=address)
        if wait:
            log.warning("token request refused for username %r from %s: wait %d s", username, address, wait)
            raise Throttled(wait=wait, detail="Too many failed sign-ins for this username from your address.")
        response = super().post(request, *args, **kwargs)
        sign_in_succeeded(username=username, address=address)
        return response
