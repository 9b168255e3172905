"""A caller limited to host groups sees the networks of the hosts in them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from access.permissions import scope_rule
from hosts.scoping import hosts_in

from .models import Network


@scope_rule("networks.Network")
def _networks(queryset: QuerySet[Network], scope: frozenset[int], user: Any) -> QuerySet[Network]:
    return queryset.filter(host__in=hosts_in(scope))
