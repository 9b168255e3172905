"""Monitoring against the real services: /readyz with a real worker answering, and
with none or no Redis; a refresh recording the agent round trip that /metrics
exports; a worker logging JSON lines that name the operation and task."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from berth.celery import app as celery_app
from hosts import services as host_services
from hosts.models import Host
from operations.choices import FINISHED_STATUSES
from operations.models import Operation
from tests.fleet import wait_for
from tests.live_services import free_port, start_process, stop_process

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def broker(url: str) -> Iterator[None]:
    """Point this process's Celery app and readiness checks at another broker URL."""
    previous = (settings.CELERY_BROKER_URL, celery_app.conf.broker_url)

    def use(web: str, app: str) -> None:
        settings.CELERY_BROKER_URL = web
        celery_app.conf.broker_url = app
        # Pooled connections still point at the old URL.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    use(url, url)
    try:
        yield
    finally:
        use(*previous)


def other_db(redis_url: str, index: int) -> str:
    """The same Redis, another database: Celery's broadcasts do not cross databases."""
    return redis_url.rsplit("/", 1)[0] + f"/{index}"


def test_ready_when_database_redis_and_a_worker_answer(client, celery_worker):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "workers": True,
    }
    assert "answered" in body["checks"]["workers"]["detail"]


def test_not_ready_when_no_worker_answers(client, celery_worker, redis_url):
    with broker(other_db(redis_url, 15)):  # Redis answers there; no worker listens
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is True
    assert checks["workers"]["ok"] is False
    assert checks["workers"]["error"].startswith("no Celery worker answered a ping within")
    assert checks["workers"]["duration_ms"] < 5000


def test_not_ready_when_redis_is_unreachable(client, celery_worker):
    with broker(f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]
    assert body["checks"]["workers"]["ok"] is False
    assert "Traceback" not in response.content.decode()


def test_a_refresh_records_the_agent_round_trip_for_metrics(client, register, fleet):
    host = register(fleet["h1"], name="rtt-h1")
    host = wait_for(
        lambda: Host.objects.filter(pk=host.pk, status="online", agent_rtt_ms__gt=0).first(),
        timeout=60,
        what="rtt-h1 to come online with a round trip recorded",
    )
    assert 0 < host.agent_rtt_ms < 8000  # within the agent request timeout

    response = client.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    per_host = {
        s.labels["host"]: s.value for s in families["berth_host_agent_round_trip_seconds"].samples
    }
    assert per_host["rtt-h1"] == pytest.approx(host.agent_rtt_ms / 1000)
    count = [
        s.value
        for s in families["berth_agent_round_trip_seconds"].samples
        if s.name == "berth_agent_round_trip_seconds_count"
    ]
    assert count[0] >= 1
    refreshes = [
        s.value
        for s in families["berth_operations"].samples
        if s.labels == {"action": "host.refresh", "status": "succeeded"}
    ]
    assert refreshes == [Operation.objects.filter(
        action="host.refresh", status="succeeded").count()]  # fmt: skip


@pytest.fixture
def json_worker(service_env, redis_url, tmp_path):
    """A second worker, logging JSON, on a Redis database of its own (so it and the
    session's worker never take each other's tasks)."""
    url = other_db(redis_url, 14)
    log_path = tmp_path / "json-worker.log"
    process = start_process(
        [
            sys.executable, "-m", "celery", "-A", "berth", "worker",
            "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "-n", "json@%h",
        ],
        {**service_env, "BERTH_REDIS_URL": url, "BERTH_LOG_FORMAT": "json"},
        log_path,
    )  # fmt: skip
    with broker(url):
        wait_for(lambda: celery_app.control.ping(timeout=0.5), timeout=60, what="the JSON worker")
        yield log_path
    stop_process(process, log_path)


def test_a_worker_logs_json_lines_naming_the_operation_and_task(json_worker):
    # No SSH key: the refresh fails at once and logs why, inside the operation.
    host = Host.objects.create(name="json-log-host", address="127.0.0.1", port=free_port())
    operation = host_services.request_refresh(host, actor=None)
    wait_for(
        lambda: Operation.objects.filter(pk=operation.pk, status__in=FINISHED_STATUSES).exists(),
        timeout=30,
        what="the refresh to finish",
    )

    def operation_lines() -> list[dict]:
        text = json_worker.read_text()
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        return [e for e in entries if e.get("operation_id") == operation.pk]

    (entry, *_) = wait_for(operation_lines, timeout=10, what="the worker's line about it")
    assert entry["host"] == "json-log-host"
    assert entry["task_id"]
    assert entry["logger"] == "hosts.services"
    assert "json-log-host has no SSH key configured" in entry["message"]
    # Every line the worker's logging wrote is JSON (Celery's banner is printed, not logged).
    logged = [line for line in json_worker.read_text().splitlines() if line.startswith("{")]
    assert logged and all(json.loads(line)["level"] for line in logged)
    assert not [line for line in json_worker.read_text().splitlines() if " INFO " in line]
