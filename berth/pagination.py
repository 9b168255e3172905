"""One pagination for every list: ``?limit=&offset=``, answered as
``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# Past these a database cannot even express the query (SQLite's 64-bit integers).
MAX_LIMIT = 1000
MAX_OFFSET = 2**62


class Pagination(LimitOffsetPagination):
    """``limit`` defaults to PAGE_SIZE and is capped at 1000; ``offset`` starts at 0.

    DRF reads a malformed value (``?offset=null``, ``?limit=-5``) as if none were
    given, so a script with a bug pages through the wrong rows without knowing: here
    it is a 400 naming the parameter, as for every other query parameter.
    """

    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int | None:
        value = _whole_number(request, self.limit_query_param, minimum=1)
        return self.default_limit if value is None else min(value, MAX_LIMIT)

    def get_offset(self, request: Request) -> int:
        value = _whole_number(request, self.offset_query_param, minimum=0)
        return 0 if value is None else min(value, MAX_OFFSET)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
        return parameters


def _whole_number(request: Request, name: str, *, minimum: int) -> int | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise ValidationError({name: [f"Give {name} once."]})
    raw = values[0]
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise ValidationError({name: [f"{name} is a whole number, at least {minimum}."]})
    return int(raw)
