"""A caller limited to host groups sees the volumes of the hosts in them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from access.permissions import scope_rule
from hosts.scoping import hosts_in

from .models import Volume


@scope_rule("volumes.Volume")
def _volumes(queryset: QuerySet[Volume], scope: frozenset[int], user: Any) -> QuerySet[Volume]:
    return queryset.filter(host__in=hosts_in(scope))
