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
"""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError, RestrictedError
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError | RestrictedError):
        exc = _in_use(exc)  # deleting something others still point at: 409, not 500
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    errors: dict[str, list[str]] = {}
    if isinstance(exc, ValidationError):
        _flatten(exc.detail, "", errors)
        message = _summary(errors)
    elif isinstance(response.data, dict) and "detail" in response.data:
        message = str(response.data["detail"])
    else:
        _flatten(response.data, "", errors)
        message = _summary(errors)
    response.data = {"message": message, "errors": errors, "detail": message}
    return response
