"""One error format for the whole API.

Every error DRF answers (400, 401, 403, 404, 405, 409, 429, …) has the body::

    {"message": "spec.ports.0.public: Ensure this value is less than or equal to 65535.",
     "errors": {"spec.ports.0.public": ["Ensure this value is less than or equal to 65535."]},
     "detail": "<the same as message>"}

``message`` is one readable sentence; ``errors`` maps each field (nested fields as
dotted paths, list items by index, errors about the whole body under
``non_field_errors``) to its messages and is empty when no field is to blame;
``detail`` repeats ``message`` for clients written against DRF's usual shape.

Deleting something other rows still point at (a host group a service targets) is
a 409 with this body, not a 500.

Nothing else reaches an API client either: with the task queue (Redis) or the database
unreachable a request is a 503 saying so; any other unexpected exception is a 500 with a short
message, its traceback in the server log (never in the answer, DEBUG or not). Paths
under /api/ that no view serves get the same body from ``ApiErrorMiddleware``
(berth/middleware.py) and the ``not_found`` / ``server_error`` handlers.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from berth.broker import as_broker_unavailable, is_broker_error

log = logging.getLogger(__name__)


# The body of every error answer (see the module docstring), for the schema. Inline:
# a serializer class cannot declare a field called "errors".
ERROR_BODY = inline_serializer(
    name="Error",
    fields={
        "message": serializers.CharField(help_text="One readable sentence"),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="For a 400: each field at fault (dotted paths) and its messages",
        ),
        "detail": serializers.CharField(help_text="The same as message"),
    },
)


# What each error status means wherever it applies; berth/schema.py declares these on
# every operation they can happen to, from how its view is built.
STANDARD_ERRORS: dict[int, str] = {
    400: "The body is invalid: errors names each field at fault; nothing was done",
    401: "No credentials, or a token that is unknown, expired or revoked",
    403: "Your role does not allow this, it would reach outside your host groups, "
    "or (with a session) the CSRF token is missing",
    404: "No such object, or it is outside your host groups",
    429: "Too many failed logins from your address: wait for the window to pass",
    503: "The database is unreachable: try again after Retry-After seconds",
}
# For the operations that queue work (in addition to the above).
QUEUE_UNAVAILABLE = (
    "The task queue (Redis) or the database is unreachable: nothing was queued and any "
    "operation recorded for it is failed; try again after Retry-After seconds"
)


def error_responses(descriptions: dict[int, str]) -> dict[int, OpenApiResponse]:
    """Schema entries for the error answers an endpoint gives, each with its meaning.

    Given to ``@extend_schema(responses=...)`` alone, they are added to the inferred
    success answer and the errors every operation of its kind has (berth/schema.py).
    """
    return {
        code: OpenApiResponse(ERROR_BODY, description=description)
        for code, description in descriptions.items()
    }


def _flatten(detail: Any, prefix: str, out: dict[str, list[str]]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list | tuple):
                _flatten(item, f"{prefix}.{index}" if prefix else str(index), out)
            else:
                out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(item))
    else:
        out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(detail))


def _summary(errors: dict[str, list[str]]) -> str:
    if not errors:
        return "The request is invalid."
    field, messages = next(iter(errors.items()))
    text = messages[0] if field == api_settings.NON_FIELD_ERRORS_KEY else f"{field}: {messages[0]}"
    others = sum(len(values) for values in errors.values()) - 1
    return f"{text} (and {others} more)" if others else text


class Conflict(APIException):
    """409: the request is valid but the thing's state forbids it now (a rollout in
    progress, say); the message says what is in the way."""

    status_code = 409
    default_code = "conflict"


class InUse(APIException):
    status_code = 409
    default_code = "in_use"


def _in_use(exc: ProtectedError | RestrictedError) -> InUse:
    if isinstance(exc, ProtectedError):
        objects = list(exc.protected_objects)
    else:
        objects = list(exc.restricted_objects)
    names = ", ".join(f"{obj._meta.verbose_name} {obj}" for obj in objects[:5])
    more = f" and {len(objects) - 5} more" if len(objects) > 5 else ""
    return InUse(f"It is still in use by {names}{more}; change or delete those first.")


class ServiceUnavailable(APIException):
    status_code = 503
    default_code = "task_queue_unavailable"


# Retry-After for a 503: about how long a restarted Redis or database takes to be back.
RETRY_AFTER_SECONDS = 10
DATABASE_UNAVAILABLE = "The database is unreachable. Try again once it is back."


def unexpected_error_message(exc: BaseException) -> str:
    return (
        f"Berth hit an unexpected error ({type(exc).__name__}); "
        "it is logged on the server with its details."
    )


def body(message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"message": message, "errors": errors or {}, "detail": message}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError | RestrictedError):
        exc = _in_use(exc)  # deleting something others still point at: 409, not 500
    if is_broker_error(exc):
        log.warning("%s: %s", _where(context), as_broker_unavailable(exc).message)
        exc = ServiceUnavailable(as_broker_unavailable(exc).message)
    elif isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # The database went away (restart, failover): the next request reconnects.
        log.warning("%s: the database is unreachable: %s", _where(context), exc, exc_info=exc)
        exc = ServiceUnavailable(DATABASE_UNAVAILABLE)
    response = drf_exception_handler(exc, context)
    if response is None:
        # A bug, or a dependency DRF does not know: a JSON 500, never Django's HTML page.
        log.error("%s failed with an unexpected error", _where(context), exc_info=exc)
        set_rollback()
        return Response(body(unexpected_error_message(exc)), status=500)
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    errors: dict[str, list[str]] = {}
    if isinstance(exc, ValidationError):
        _flatten(exc.detail, "", errors)
        message = _summary(errors)
    elif isinstance(response.data, dict) and "detail" in response.data:
        message = str(response.data["detail"])
    else:
        _flatten(response.data, "", errors)
        message = _summary(errors)
    response.data = body(message, errors)
    return response


def _where(context: dict[str, Any]) -> str:
    request = context.get("request")
    if request is None:
        return "an API view"
    return f"{request.method} {request.path}"


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """JSON 404 for paths under /api/ that no view serves (handler404 and middleware)."""
    return JsonResponse(body(f"Not found: no API endpoint at {request.path}."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """JSON 500 for an /api/ request that failed outside a DRF view (Django logged it)."""
    return JsonResponse(
        body("Berth hit an unexpected error; it is logged on the server."), status=500
    )


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return server_error(request)
    return defaults.server_error(request)
