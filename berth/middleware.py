"""Answers for the requests that fail outside the views' own error handling.

- Under /api/, a client always gets JSON: any 4xx/5xx answer that is not JSON
  (Django's 404 and 500 pages, the DEBUG pages with their settings dump, a 403
  from a middleware) is replaced by the API's error body with the same status.
- With the task queue (Redis) unreachable, an action answers a 503 saying so: JSON
  under /api/ (DRF views answer it themselves, berth/api_errors.py), and on the
  dashboard a notice (htmx) or the page it came from with the message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme

from .api_errors import (
    RETRY_AFTER_SECONDS,
    body,
    is_api_path,
    not_found,
    server_error,
)
from .broker import as_broker_unavailable, is_broker_error

log = logging.getLogger(__name__)


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            is_api_path(request.path)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return _as_json(request, response)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_broker_error(exc):
            return None  # Django answers (and logs) it; __call__ makes it JSON under /api/
        message = as_broker_unavailable(exc).message
        log.warning("%s %s: %s", request.method, request.path, message)
        if is_api_path(request.path):
            response: HttpResponse = JsonResponse(body(message), status=503)
        elif getattr(request, "htmx", False):
            # htmx swaps 2xx answers only: the notice must arrive as one to be seen.
            notice = {"tone": "bad", "text": message}
            return HttpResponse(render_to_string("frontend/partials/notice.html", notice, request))
        else:
            back = request.headers.get("Referer", "")
            if url_has_allowed_host_and_scheme(
                back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                messages.error(request, message)
                return HttpResponseRedirect(back)
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def _as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code == 404:
        replacement: HttpResponse = not_found(request)
    elif response.status_code == 500:
        replacement = server_error(request)
    else:
        try:
            phrase = HTTPStatus(response.status_code).phrase
        except ValueError:
            phrase = "Error"
        replacement = JsonResponse(body(f"{phrase}."), status=response.status_code)
    for header in ("Retry-After", "Allow", "WWW-Authenticate"):
        if header in response:
            replacement[header] = response[header]
    return replacement
