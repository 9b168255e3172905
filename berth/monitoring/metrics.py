"""Prometheus metrics, computed from the database at scrape time.

Operations run and hosts are refreshed in Celery workers, often on other machines
than the web process serving /metrics, so in-process counters would only ever see
a fraction of the work. The database sees all of it: every scrape asks it a fixed
handful of aggregate queries (independent of how many hosts and operations there
are) and turns the answers into metric families.

Pruning old operations (operations/retention.py) moves what the deleted rows counted
into ``PrunedOperationTotals``, which is added back here: the counters and the duration
histogram never go down.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.db.models import Count, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from hosts.choices import HostStatus
from hosts.models import Host
from operations import registry
from operations.choices import FINISHED_STATUSES, OperationStatus
from operations.durations import (
    OPERATION_DURATION_BUCKETS,
    bucket_counts,
    bucket_key,
    duration_rows,
)
from operations.models import Operation, PrunedOperationTotals

# Upper bounds (seconds). Agent round trips range from a LAN millisecond to a slow
# WAN/jump-host second (operations: operations/durations.py).
AGENT_RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

OPEN_STATUSES = (OperationStatus.PENDING, OperationStatus.RUNNING)

Outcome = tuple[str, str]  # (action, status)


def _buckets(row: Mapping[str, Any], bounds: Sequence[float]) -> list[tuple[str, float]]:
    buckets = [(floatToGoString(bound), row[f"le_{i}"]) for i, bound in enumerate(bounds)]
    buckets.append(("+Inf", row["count"]))
    return buckets


def _seconds(value: float | None) -> float:
    return 0.0 if value is None else float(value)


def _pruned_buckets(totals: PrunedOperationTotals) -> list[int]:
    """The pruned rows' cumulative bucket counts, one per OPERATION_DURATION_BUCKETS.

    A bound added since a prune has no stored count: the count of the bound below it
    stands in (a lower bound of the truth that keeps the buckets cumulative)."""
    counts, carried = [], 0
    for bound in OPERATION_DURATION_BUCKETS:
        carried = int(totals.duration_buckets.get(bucket_key(bound), carried))
        counts.append(carried)
    return counts


class BerthCollector(Collector):
    """Fleet and operation metrics; every collect() runs the same six queries."""

    def collect(self) -> Iterator[Metric]:
        pruned = {(row.action, row.status): row for row in PrunedOperationTotals.objects.all()}
        yield self._hosts()
        yield from self._operations(pruned)
        yield self._operation_durations(pruned)
        yield from self._agent_round_trips()

    # -- hosts --------------------------------------------------------------------------

    def _hosts(self) -> Metric:
        family = GaugeMetricFamily(
            "berth_hosts", "Hosts in the fleet by status.", labels=["status"]
        )
        counts = {
            row["status"]: row["n"]
            for row in Host.objects.order_by().values("status").annotate(n=Count("pk"))
        }
        # Every status, zeros too: an alert on berth_hosts{status="unreachable"} > 0
        # needs the series to exist while it is 0.
        for status in HostStatus.values:
            family.add_metric([status], counts.get(status, 0))
        return family

    def _agent_round_trips(self) -> Iterable[Metric]:
        online = Host.objects.order_by().filter(
            status=HostStatus.ONLINE, agent_rtt_ms__isnull=False
        )
        histogram = HistogramMetricFamily(
            "berth_agent_round_trip_seconds",
            "Round trip of a ping to each online host's agent at its last refresh.",
        )
        row = online.aggregate(
            count=Count("pk"),
            total=Sum("agent_rtt_ms"),
            **bucket_counts("agent_rtt_ms", AGENT_RTT_BUCKETS, lambda bound: bound * 1000),
        )
        histogram.add_metric([], _buckets(row, AGENT_RTT_BUCKETS), _seconds(row["total"]) / 1000)
        yield histogram

        per_host = GaugeMetricFamily(
            "berth_host_agent_round_trip_seconds",
            "Round trip of a ping to the host's agent at its last successful refresh.",
            labels=["host"],
        )
        last_seen = GaugeMetricFamily(
            "berth_host_last_seen_timestamp_seconds",
            "When the host last answered a refresh (Unix time).",
            labels=["host"],
        )
        rows = Host.objects.order_by("name").values_list(
            "name", "status", "agent_rtt_ms", "last_seen_at"
        )
        for name, status, rtt_ms, seen in rows:
            if status == HostStatus.ONLINE and rtt_ms is not None:
                per_host.add_metric([name], rtt_ms / 1000)
            if seen is not None:
                last_seen.add_metric([name], seen.timestamp())
        yield per_host
        yield last_seen

    # -- operations ---------------------------------------------------------------------

    def _operations(self, pruned: Mapping[Outcome, PrunedOperationTotals]) -> Iterable[Metric]:
        finished = CounterMetricFamily(
            "berth_operations",
            "Finished operations by action and outcome (succeeded, failed, cancelled).",
            labels=["action", "status"],
        )
        open_ = GaugeMetricFamily(
            "berth_operations_open",
            "Operations waiting for a worker (pending) or running, by action.",
            labels=["action", "status"],
        )
        rows = Operation.objects.order_by().values("action", "status").annotate(n=Count("pk"))
        counts = {(row["action"], row["status"]): row["n"] for row in rows}
        for outcome, totals in pruned.items():
            counts[outcome] = counts.get(outcome, 0) + totals.count
        # Registered actions get zeros, so rate() and increase() see the first failure.
        actions = sorted({*registry.action_names(), *(action for action, _ in counts)})
        for action in actions:
            for status in FINISHED_STATUSES:
                finished.add_metric([action, status], counts.get((action, status), 0))
            for status in OPEN_STATUSES:
                open_.add_metric([action, status], counts.get((action, status), 0))
        yield finished
        yield open_

    def _operation_durations(self, pruned: Mapping[Outcome, PrunedOperationTotals]) -> Metric:
        family = HistogramMetricFamily(
            "berth_operation_duration_seconds",
            "How long finished operations ran, from claim to outcome, by action and outcome.",
            labels=["action", "status"],
        )
        rows: dict[Outcome, dict[str, Any]] = {
            (row["action"], row["status"]): dict(row)
            for row in duration_rows(Operation.objects.all())
        }
        for outcome, totals in pruned.items():
            if not totals.duration_count:
                continue
            row = rows.setdefault(
                outcome,
                {
                    "count": 0,
                    "total": 0.0,
                    **{f"le_{i}": 0 for i in range(len(OPERATION_DURATION_BUCKETS))},
                },
            )
            row["count"] += totals.duration_count
            row["total"] = _seconds(row["total"]) + totals.duration_sum
            for index, count in enumerate(_pruned_buckets(totals)):
                row[f"le_{index}"] += count
        for (action, status), row in sorted(rows.items()):
            buckets = _buckets(row, OPERATION_DURATION_BUCKETS)
            family.add_metric([action, status], buckets, _seconds(row["total"]))
        return family


_registry = CollectorRegistry(auto_describe=False)
_registry.register(BerthCollector())


def render() -> bytes:
    """The current metrics in Prometheus' text exposition format."""
    return generate_latest(_registry)
