"""One pagination for every list: ``?limit=&offset=``, answered as
``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# Past these a database cannot even express the query (SQLite's 64-bit integers).
MAX_LIMIT = 1000
MAX_OFFSET = 2**62


class Pagination(LimitOffsetPagination):
    """``limit`` defaults to PAGE_SIZE and is capped at 1000; ``offset`` starts at 0."""

    max_limit = MAX_LIMIT

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
