"""How hosts and host groups are limited to a caller's scope (access.permissions), and
the scoped host queries the other apps' rules and views build on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Model, QuerySet

from access.permissions import scope_queryset, scope_rule
from access.roles import scope_of

from .models import DiskUsage, Host, HostGroup


def hosts_in(scope: frozenset[int]) -> QuerySet[Host, Any]:
    """The ids of the hosts in any of the ``scope`` host groups (a subquery)."""
    return Host.objects.filter(groups__in=scope).values("pk")


@scope_rule("hosts.Host")
def _hosts(queryset: QuerySet[Host], scope: frozenset[int], user: Any) -> QuerySet[Host]:
    return queryset.filter(pk__in=hosts_in(scope))


@scope_rule("hosts.DiskUsage")
def _disk(queryset: QuerySet[DiskUsage], scope: frozenset[int], user: Any) -> QuerySet[DiskUsage]:
    return queryset.filter(host__in=hosts_in(scope))


@scope_rule("hosts.HostGroup")
def _groups(queryset: QuerySet[HostGroup], scope: frozenset[int], user: Any) -> QuerySet[HostGroup]:
    return queryset.filter(pk__in=scope)


def scoped_hosts(user: Any) -> QuerySet[Host]:
    """Hosts the user (or their token) may see."""
    return scope_queryset(Host.objects.all(), user)


def hosts_in_scope(user: Any, hosts: Iterable[Model]) -> bool:
    """Whether every one of ``hosts`` is in the user's scope."""
    wanted = {host.pk for host in hosts}
    if scope_of(user) is None:
        return True
    return wanted <= set(scoped_hosts(user).filter(pk__in=wanted).values_list("pk", flat=True))
