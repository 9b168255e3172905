"""What a caller limited to host groups sees of services, their revisions and rollouts,
and of operations without a host (a rollout's is its service's)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from access.permissions import scope_rule
from access.roles import scope_of
from hosts.models import Host
from hosts.scoping import hosts_in
from operations.models import Operation

from .models import Revision, Rollout, Service
from .services import target_host_ids


def visible_service_ids(user: Any) -> set[int] | None:
    """Ids of the services whose target hosts are all in scope (None: every service)."""
    scope = scope_of(user)
    if scope is None:
        return None
    allowed = set(hosts_in(scope).values_list("pk", flat=True))
    services = Service.objects.only("pk", "host_group", "host_label")
    return {pk for pk, hosts in target_host_ids(services).items() if hosts <= allowed}


@scope_rule("deployments.Service")
def _services(queryset: QuerySet[Service], scope: frozenset[int], user: Any) -> QuerySet[Service]:
    return queryset.filter(pk__in=visible_service_ids(user) or ())


@scope_rule("deployments.Revision")
def _revisions(
    queryset: QuerySet[Revision], scope: frozenset[int], user: Any
) -> QuerySet[Revision]:
    return queryset.filter(service__in=visible_service_ids(user) or ())


@scope_rule("deployments.Rollout")
def _rollouts(queryset: QuerySet[Rollout], scope: frozenset[int], user: Any) -> QuerySet[Rollout]:
    return queryset.exclude(hosts__host__in=Host.objects.exclude(pk__in=hosts_in(scope)))


# Registered here rather than by operations: an operation without a host may belong to a
# service, and which services a caller sees is this app's to say.
@scope_rule("operations.Operation")
def _operations(
    queryset: QuerySet[Operation], scope: frozenset[int], user: Any
) -> QuerySet[Operation]:
    services = [str(pk) for pk in visible_service_ids(user) or ()]
    return queryset.filter(
        Q(host__in=hosts_in(scope))
        | Q(host__isnull=True, actor=user if user.is_authenticated else None)
        | Q(host__isnull=True, target_type="service", target_id__in=services)
    )
