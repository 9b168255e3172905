"""GET /metrics: what it exports, who may read it, and that a scrape costs the same
handful of queries however large the fleet and its history are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from hosts.choices import HostStatus
from hosts.models import Host
from operations.models import Operation, PrunedOperationTotals

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def value(samples, name: str, **labels) -> float:
    matches = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(matches) == 1, (name, labels, samples)
    return matches[0]


def make_operations(host: Host, durations: list[float | None], *, action="container.restart",
                    status="succeeded") -> None:  # fmt: skip
    now = timezone.now()
    Operation.objects.bulk_create(
        Operation(
            action=action,
            status=status,
            actor_name="system",
            target_type="host",
            target_id=str(host.pk),
            host=host,
            started_at=None if seconds is None else now - timedelta(seconds=seconds),
            finished_at=None if seconds is None else now,
        )
        for seconds in durations
    )


def make_hosts(count: int, **fields) -> list[Host]:
    start = Host.objects.count()
    return Host.objects.bulk_create(
        Host(name=f"m-{start + index}", transport="local", **fields) for index in range(count)
    )


def test_every_host_status_is_exported_even_when_zero(client):
    make_hosts(2, status=HostStatus.ONLINE)
    make_hosts(1, status=HostStatus.UNREACHABLE)
    samples = scrape(client)["berth_hosts"]
    assert {s.labels["status"] for s in samples} == set(HostStatus.values)
    assert value(samples, "berth_hosts", status="online") == 2
    assert value(samples, "berth_hosts", status="unreachable") == 1
    assert value(samples, "berth_hosts", status="auth_failed") == 0


def test_operations_are_counted_by_action_and_outcome(client):
    (host,) = make_hosts(1)
    make_operations(host, [1, 2, 3])
    make_operations(host, [1], status="failed")
    make_operations(host, [None, None], action="image.pull", status="pending")
    metrics = scrape(client)
    finished = metrics["berth_operations"]
    assert value(finished, "berth_operations_total", action="container.restart",
                 status="succeeded") == 3  # fmt: skip
    assert value(finished, "berth_operations_total", action="container.restart",
                 status="failed") == 1  # fmt: skip
    # Registered actions are there with zeros before anything has happened.
    assert value(finished, "berth_operations_total", action="host.refresh", status="failed") == 0
    # Unfinished operations are a gauge, not part of the counter (they change state).
    assert value(metrics["berth_operations_open"], "berth_operations_open",
                 action="image.pull", status="pending") == 2  # fmt: skip
    assert not [s for s in finished if s.labels["status"] in {"pending", "running"}]


def test_operation_durations_are_a_histogram_per_action_and_outcome(client):
    (host,) = make_hosts(1)
    make_operations(host, [0.05, 3, 45, 4000])
    make_operations(host, [0.2], status="failed")
    make_operations(host, [None], status="cancelled")  # never started: no duration
    samples = scrape(client)["berth_operation_duration_seconds"]
    labels = {"action": "container.restart", "status": "succeeded"}
    bucket = "berth_operation_duration_seconds_bucket"
    assert value(samples, bucket, **labels, le="0.1") == 1
    assert value(samples, bucket, **labels, le="5.0") == 2
    assert value(samples, bucket, **labels, le="60.0") == 3
    assert value(samples, bucket, **labels, le="1800.0") == 3
    assert value(samples, bucket, **labels, le="+Inf") == 4
    assert value(samples, "berth_operation_duration_seconds_count", **labels) == 4
    total = value(samples, "berth_operation_duration_seconds_sum", **labels)
    assert total == pytest.approx(4048.05, abs=0.01)
    failed = {"action": "container.restart", "status": "failed"}
    assert value(samples, bucket, **failed, le="0.1") == 0
    assert value(samples, bucket, **failed, le="0.25") == 1
    assert not [s for s in samples if s.labels.get("status") == "cancelled"]


def test_pruned_operations_still_count(client):
    """Operations deleted by a prune (operations/retention.py) left their totals behind."""
    (host,) = make_hosts(1)
    make_operations(host, [3])
    PrunedOperationTotals.objects.create(
        action="container.restart", status="succeeded", count=5, duration_count=4,
        duration_sum=100.0, duration_buckets={"0.1": 1, "5.0": 2, "60.0": 4, "1800.0": 4},
    )  # fmt: skip
    PrunedOperationTotals.objects.create(action="bulk.image.pull", status="failed", count=2)
    metrics = scrape(client)
    finished = metrics["berth_operations"]
    assert value(finished, "berth_operations_total", action="container.restart",
                 status="succeeded") == 6  # fmt: skip
    assert value(finished, "berth_operations_total", action="bulk.image.pull", status="failed") == 2
    samples = metrics["berth_operation_duration_seconds"]
    labels = {"action": "container.restart", "status": "succeeded"}
    bucket = "berth_operation_duration_seconds_bucket"
    assert value(samples, bucket, **labels, le="0.1") == 1
    # A bound with no stored count takes the one below it: buckets stay cumulative.
    assert value(samples, bucket, **labels, le="2.5") == 1
    assert value(samples, bucket, **labels, le="5.0") == 3
    assert value(samples, bucket, **labels, le="+Inf") == 5
    assert value(samples, "berth_operation_duration_seconds_count", **labels) == 5
    assert value(samples, "berth_operation_duration_seconds_sum", **labels) == pytest.approx(
        103, abs=0.01
    )
    # Pruned operations that never ran add nothing to the histogram.
    assert not [s for s in samples if s.labels.get("action") == "bulk.image.pull"]


def test_agent_round_trips_of_online_hosts(client):
    fast, slow = make_hosts(2, status=HostStatus.ONLINE, last_seen_at=timezone.now())
    Host.objects.filter(pk=fast.pk).update(agent_rtt_ms=0.8)
    Host.objects.filter(pk=slow.pk).update(agent_rtt_ms=120.0)
    # A host that stopped answering keeps its old round trip; it is no longer current.
    make_hosts(1, status=HostStatus.UNREACHABLE, agent_rtt_ms=2.0)
    metrics = scrape(client)
    histogram = metrics["berth_agent_round_trip_seconds"]
    name = "berth_agent_round_trip_seconds"
    assert value(histogram, f"{name}_bucket", le="0.001") == 1
    assert value(histogram, f"{name}_bucket", le="0.1") == 1
    assert value(histogram, f"{name}_bucket", le="0.25") == 2
    assert value(histogram, f"{name}_count") == 2
    assert value(histogram, f"{name}_sum") == pytest.approx(0.1208)
    per_host = metrics["berth_host_agent_round_trip_seconds"]
    assert value(per_host, "berth_host_agent_round_trip_seconds", host=slow.name) == 0.12
    assert len(per_host) == 2
    seen = metrics["berth_host_last_seen_timestamp_seconds"]
    assert value(seen, "berth_host_last_seen_timestamp_seconds", host=fast.name) > 1.7e9


def test_an_empty_database_still_exports_every_family(client):
    metrics = scrape(client)
    assert {
        "berth_hosts",
        "berth_operations",
        "berth_operations_open",
        "berth_operation_duration_seconds",
        "berth_agent_round_trip_seconds",
        "berth_host_agent_round_trip_seconds",
        "berth_host_last_seen_timestamp_seconds",
    } <= set(metrics)


def _queries_for_a_scrape(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        scrape(client)
    return len(queries)


def test_a_scrape_costs_the_same_queries_for_10_and_200_rows(client):
    actions = ["container.restart", "image.pull", "host.refresh"]
    statuses = ["succeeded", "failed", "cancelled", "running", "pending"]

    def grow(count: int) -> None:
        hosts = make_hosts(count, status=HostStatus.ONLINE, agent_rtt_ms=3.0,
                           last_seen_at=timezone.now())  # fmt: skip
        for index, host in enumerate(hosts):
            make_operations(host, [index % 40 + 0.5], action=actions[index % 3],
                            status=statuses[index % 5])  # fmt: skip

    grow(10)
    small = _queries_for_a_scrape(client)
    grow(190)
    large = _queries_for_a_scrape(client)
    # Hosts, operations by outcome, durations, round trips, per host; pruned totals.
    assert small == large == 6


def test_open_without_a_token(client, settings):
    settings.BERTH_METRICS_TOKEN = None
    assert client.get("/metrics").status_code == 200


def test_a_token_is_required_once_set(client, settings):
    settings.BERTH_METRICS_TOKEN = "s3cret-metrics"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert b"berth_" not in refused.content
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    odd = client.get("/metrics", headers={"Authorization": "Bearer s3cret-métrics"})
    assert odd.status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert allowed.status_code == 200
    assert b"berth_hosts" in allowed.content


def test_the_token_can_come_from_a_file(tmp_path, monkeypatch):
    from berth.settings.env import env_optional_secret

    secret = tmp_path / "metrics-token"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("BERTH_METRICS_TOKEN", raising=False)
    monkeypatch.setenv("BERTH_METRICS_TOKEN_FILE", str(secret))
    assert env_optional_secret("BERTH_METRICS_TOKEN") == "from-a-file"


def test_a_database_failure_is_a_503_without_a_traceback(client, monkeypatch):
    from django.db import OperationalError

    from berth.monitoring import metrics

    def broken():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(metrics, "render", broken)
    response = client.get("/metrics")
    assert response.status_code == 503
    assert response.content == b"metrics unavailable: the database did not answer\n"
