"""A caller limited to host groups sees the containers of the hosts in them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from access.permissions import scope_rule
from hosts.scoping import hosts_in

from .models import Container


@scope_rule("containers.Container")
def _containers(
    queryset: QuerySet[Container], scope: frozenset[int], user: Any
) -> QuerySet[Container]:
    return queryset.filter(host__in=hosts_in(scope))
