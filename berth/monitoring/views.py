"""/healthz, /readyz and /metrics: unauthenticated probes and a token-guarded scrape."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from . import health, metrics

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Touches nothing else, so a database or
    Redis outage never gets healthy web processes restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, Redis and at least one Celery worker answer."""
    ready, results = health.readiness()
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    token: str | None = settings.BERTH_METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Bytes: compare_digest refuses str with non-ASCII characters.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics; with BERTH_METRICS_TOKEN set, only for its bearer."""
    if not _metrics_allowed(request):
        response = HttpResponse("a valid metrics token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    try:
        body = metrics.render()
    except DatabaseError as exc:
        # Prometheus records the failed scrape (up == 0); the reason goes to the log.
        log.warning("metrics unavailable: %s: %s", type(exc).__name__, exc)
        return HttpResponse(
            "metrics unavailable: the database did not answer\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
