"""How much disk Docker uses on each host, by images, containers' writable layers, volumes
and build cache, with what a prune would reclaim; and the same summed over the fleet.

A measure is an Operation (``host.disk``): the agent's ``system df`` walks every volume's
files, so a refresh never asks for it. Each host keeps its last measure (``DiskUsage``,
one row per kind) until the next; the volumes app stores the volume sizes the same
measure read (``signals.disk_measured``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from operations.context import OperationContext
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, submit, submit_bulk

from .agent import HostAgent, operation_host
from .choices import DiskKind
from .models import DiskUsage, Host
from .signals import disk_measured

log = logging.getLogger(__name__)

# `system df` walks every volume's files and sizes every container's writable layer.
MEASURE_TIMEOUT = 600.0
NUMBERS = ("count", "active", "size", "reclaimable")


# --- what is stored ---------------------------------------------------------------------


@dataclass
class KindUsage:
    count: int = 0
    active: int = 0
    size: int = 0
    reclaimable: int = 0

    def add(self, other: KindUsage) -> None:
        for name in NUMBERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Usage:
    """One host's last measure, or the sum of many hosts'. ``kinds`` in DiskKind order."""

    kinds: dict[str, KindUsage] = field(default_factory=dict)
    measured_at: datetime | None = None

    @property
    def measured(self) -> bool:
        return self.measured_at is not None

    @property
    def size(self) -> int:
        return sum(kind.size for kind in self.kinds.values())

    @property
    def reclaimable(self) -> int:
        return sum(kind.reclaimable for kind in self.kinds.values())

    def numbers(self) -> dict[str, Any]:
        """Each kind's numbers and the totals (the API's shape): all None when nothing
        was measured."""
        if not self.measured:
            return {**{kind.value: None for kind in DiskKind}, "size": None, "reclaimable": None}
        return {
            **{kind: vars(numbers) for kind, numbers in self.kinds.items()},
            "size": self.size,
            "reclaimable": self.reclaimable,
        }

    def rows(self) -> list[tuple[str, str, KindUsage]]:
        """(kind, its label, its numbers) in DiskKind order: for the pages."""
        return [(kind.value, kind.label, self.kinds[kind.value]) for kind in DiskKind]


def _empty_kinds() -> dict[str, KindUsage]:
    return {kind.value: KindUsage() for kind in DiskKind}


def usage_of(rows: Iterable[DiskUsage]) -> Usage:
    """A host's ``Usage`` from its stored rows (none: never measured)."""
    rows = list(rows)
    if not rows:
        return Usage()
    kinds = _empty_kinds()
    for row in rows:
        kinds[row.kind] = KindUsage(*(getattr(row, name) for name in NUMBERS))
    return Usage(kinds=kinds, measured_at=min(row.measured_at for row in rows))


def host_usage(host: Host) -> Usage:
    return usage_of(DiskUsage.objects.filter(host=host))


@dataclass
class FleetUsage:
    """The last measures of many hosts, summed per kind."""

    usage: Usage
    hosts: int  # asked about
    measured: int  # of them, measured at least once
    oldest: datetime | None = None
    newest: datetime | None = None


def fleet_usage(hosts: QuerySet[Host]) -> FleetUsage:
    """Every kind summed over ``hosts``' last measures, in three queries."""
    rows = DiskUsage.objects.filter(host__in=hosts.values("pk"))
    kinds = _empty_kinds()
    sums = {f"{name}_sum": Sum(name) for name in NUMBERS}
    for kind, *numbers in (
        rows.order_by().values("kind").annotate(**sums).values_list("kind", *sums)
    ):
        kinds[kind] = KindUsage(*(number or 0 for number in numbers))
    span = rows.order_by().aggregate(
        oldest=Min("measured_at"),
        newest=Max("measured_at"),
        measured=Count("host_id", distinct=True),
    )
    return FleetUsage(
        usage=Usage(kinds=kinds, measured_at=span["newest"]),
        hosts=hosts.count(),
        measured=span["measured"],
        oldest=span["oldest"],
        newest=span["newest"],
    )


def hosts_by_usage(hosts: QuerySet[Host]) -> QuerySet[Host]:
    """``hosts`` (their id and name) with the total ``size`` and ``reclaimable`` bytes of
    their last measure to order them by: -1 for a host never measured, so that it comes
    last from the largest down on every database."""
    return hosts.only("pk", "name").annotate(
        size=Coalesce(Sum("disk_usage__size"), -1),
        reclaimable=Coalesce(Sum("disk_usage__reclaimable"), -1),
    )


def usage_by_host(hosts: Sequence[Host]) -> dict[int, Usage]:
    """Each of ``hosts``' last measure (one query), by host id."""
    found: dict[int, list[DiskUsage]] = {host.pk: [] for host in hosts}
    for row in DiskUsage.objects.filter(host_id__in=list(found)):
        found[row.host_id].append(row)
    return {host_id: usage_of(rows) for host_id, rows in found.items()}


def store_usage(host: Host, reported: dict[str, Any]) -> Usage:
    """Replace the host's stored measure with what ``host.disk`` reported."""
    now = timezone.now()
    with transaction.atomic():
        DiskUsage.objects.filter(host=host).delete()
        DiskUsage.objects.bulk_create(
            DiskUsage(
                host=host,
                kind=kind.value,
                measured_at=now,
                **{name: int((reported.get(kind.value) or {}).get(name) or 0) for name in NUMBERS},
            )
            for kind in DiskKind
        )
    return host_usage(host)


# --- requests (record + queue) -----------------------------------------------------------


def request_measure(host: Host, *, actor: Actor) -> Operation:
    """Record a measure of the host's disk usage and queue it."""
    return submit(action="host.disk", target=host, actor=actor, host=host, params={})


def request_fleet_measure(hosts: Sequence[Host], *, actor: Actor, label: str) -> Operation:
    """Measure many hosts at once: a parent operation with a child per host."""
    return submit_bulk(
        action="host.disk",
        targets=[(host, host) for host in hosts],
        actor=actor,
        params={},
        label=label,
    )


# --- the handler (runs in the worker) -----------------------------------------------------


@action("host.disk", time_limit=int(MEASURE_TIMEOUT) + 60)
def _measure(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    agent = HostAgent(host, context)
    context.progress(force=True, step=f"measuring Docker's disk use on {host.name}")
    # A link that died quietly must not be trusted with a wait of minutes.
    reported = agent.call("host.disk", {}, timeout=MEASURE_TIMEOUT, watch_link=30)
    usage = store_usage(host, reported)
    sizes = reported.get("volume_sizes") or {}
    for receiver, error in disk_measured.send_robust(sender=Host, host=host, volume_sizes=sizes):
        if isinstance(error, Exception):  # the measure stands; the listener's store did not
            log.error("%s could not store the disk measure of %s: %r", receiver, host, error)
    return usage.numbers()
