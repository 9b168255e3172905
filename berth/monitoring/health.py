"""Readiness checks: can this process do its job right now?

Each check is cheap and bounded by ``BERTH_READYZ_TIMEOUT``, so a probe never
hangs on a dead dependency, and reports failure as a short reason, never a
traceback (the endpoint is unauthenticated).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from berth.celery import app as celery_app


@dataclass
class CheckResult:
    ok: bool
    duration_ms: float = 0.0
    detail: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value != ""}


def _reason(exc: BaseException) -> str:
    """One line naming the failure, short enough for a probe's log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def check_database() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return CheckResult(ok=True)


def _redis_client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def check_redis() -> CheckResult:
    url: str = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return CheckResult(ok=False, error=f"the broker is not Redis ({url.split(':', 1)[0]})")
    client = _redis_client(url, settings.BERTH_READYZ_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()
    return CheckResult(ok=True)


def check_workers() -> CheckResult:
    # Workers answer a broadcast over the broker; none answering within the timeout
    # means queued operations would sit pending. limit=1: the first answer is enough,
    # so a healthy probe does not wait out the timeout.
    replies = celery_app.control.ping(timeout=settings.BERTH_READYZ_TIMEOUT, limit=1)
    names = sorted(name for reply in replies or [] for name in reply)
    if not names:
        return CheckResult(
            ok=False,
            error=f"no Celery worker answered a ping within {settings.BERTH_READYZ_TIMEOUT:g} s",
        )
    return CheckResult(ok=True, detail=f"{names[0]} answered")


def _timed(check: Callable[[], CheckResult]) -> CheckResult:
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # any failure is the answer, not an error page
        result = CheckResult(ok=False, error=_reason(exc))
    result.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return result


def readiness() -> tuple[bool, dict[str, CheckResult]]:
    """Run every check; (all passed, result per check name)."""
    results = {"database": _timed(check_database), "redis": _timed(check_redis)}
    if results["redis"].ok:
        results["workers"] = _timed(check_workers)
    else:
        # Pinging workers through a dead broker would wait on the broker's own
        # connection retries, far past any probe's timeout.
        results["workers"] = CheckResult(ok=False, error="not checked: Redis is unreachable")
    return all(result.ok for result in results.values()), results
