"""The OpenAPI schema lists every status an operation can answer, errors included.

``BerthAutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds the errors that
follow from how a view is built, each with the ``Error`` body (berth/api_errors.py):

- 401 and 429 wherever a login is needed (no or a bad token; too many failed logins);
- 403 where a role is checked (``access.permissions.RolePermission``), or a write
  can come with a session (CSRF);
- 404 on every path with an id in it;
- 400 on writes with a body, and on reads with a query parameter that must be a
  number, a date or one of a set of values;
- 503 everywhere: the database (or the task queue) is unreachable.

A view adds what only it answers (a 409, a 400 on a body-less action, a 503 that
means the task queue) with ``@extend_schema(responses=error_responses({...}))``.
Declaring only errors keeps the success answer spectacular infers; declaring a
success code replaces it, as in plain drf-spectacular.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated

from accounts.authentication import ApiTokenAuthentication
from berth.api_errors import ERROR_BODY, STANDARD_ERRORS

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A list's query parameters that sort: an invalid value there falls back to the
# default rather than being refused (limit and offset are refused: berth/pagination.py).
LENIENT_QUERY_PARAMETERS = frozenset({"ordering"})


class BerthAutoSchema(AutoSchema):
    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        if all(code >= "400" for code in responses):
            # Only errors were declared: the success answer is the inferred one.
            responses = {**self._inferred_success(), **responses}
        for code, description in self._default_errors(operation).items():
            if str(code) not in responses:
                error = OpenApiResponse(ERROR_BODY, description=description)
                responses[str(code)] = self._get_response_for_code(error, str(code))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _inferred_success(self) -> dict[str, Any]:
        """What drf-spectacular answers without an override (AutoSchema's own logic)."""
        serializer = AutoSchema.get_response_serializers(self)
        if self.method == "DELETE":
            return {"204": {"description": "No response body"}}
        code = "201" if self._is_create_operation() else "200"
        return {code: self._get_response_for_code(serializer, code)}

    def _default_errors(self, operation: dict[str, Any]) -> dict[int, str]:
        errors: dict[int, str] = {}
        permissions = list(getattr(self.view, "permission_classes", []))
        authentications = list(getattr(self.view, "authentication_classes", []))
        if any(permission is not AllowAny for permission in permissions):
            errors[401] = STANDARD_ERRORS[401]
            if ApiTokenAuthentication in authentications:
                errors[429] = STANDARD_ERRORS[429]
        checks_role = any(
            permission not in (AllowAny, IsAuthenticated) for permission in permissions
        )
        csrf = self.method in WRITE_METHODS and SessionAuthentication in authentications
        if checks_role or csrf:
            errors[403] = STANDARD_ERRORS[403]
        parameters = operation.get("parameters", [])
        if any(parameter["in"] == "path" for parameter in parameters):
            errors[404] = STANDARD_ERRORS[404]
        elif any(parameter["name"] == "format" for parameter in parameters):
            # DRF's content negotiation answers a format it cannot render with a 404.
            errors[404] = "No such format"
        if self.method in WRITE_METHODS and "requestBody" in operation:
            errors[400] = STANDARD_ERRORS[400]
        elif any(
            _checked_query_parameter(parameter, paginated=self._is_list_view())
            for parameter in parameters
        ):
            errors[400] = "A query parameter is invalid; the body names it"
        errors[503] = STANDARD_ERRORS[503]
        return errors


def _checked_query_parameter(parameter: dict[str, Any], *, paginated: bool) -> bool:
    """Whether a bad value of this query parameter is refused (400) rather than ignored:
    numbers, dates and choices are; free text and booleans (django-filter reads an
    unknown boolean as "any") are not."""
    if parameter["in"] != "query" or parameter["name"] == "format":
        return False
    if paginated and parameter["name"] in LENIENT_QUERY_PARAMETERS:
        return False
    schema = parameter.get("schema", {})
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    return (
        schema.get("type") in ("integer", "number")
        or "enum" in schema
        or schema.get("format") in ("date", "date-time", "uuid")
    )
