"""Redis stopped and started under a running worker and fleet watcher: both stay up,
reconnect by themselves, and Berth works again within a bounded time; an action during
the outage is a quick refusal that fails its operation, and a Docker event seen during
the outage still reaches Berth once Redis is back.

The worker and watcher here have a Redis of their own (tests/redis_server.py), so
stopping it leaves the session's shared Redis and worker alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.broker import BrokerUnavailable
from berth.celery import app as celery_app
from containers.models import Container
from deployments import services as deployments
from deployments.choices import RolloutStatus
from hosts import services
from hosts.choices import HostStatus
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import FleetHost, wait_for
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    service_on_the_fleet,
    slow_sleeper,
    switched,
)
from tests.live_services import start_process, stop_process
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)

# How long Berth may take to work again once Redis is back: the worker retries the
# broker at growing intervals of at most 30 s (Celery's), the watcher at most 5 s.
RECOVERY_BOUND = 45.0
# An action while Redis is down is refused within this (bounded publish retries).
REFUSAL_BOUND = 5.0


def _point_broker_at(url: str) -> None:
    celery_app.conf.broker_url = url
    # Connections made before this point still go to the old broker.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@dataclass
class Stack:
    redis: RedisServer
    worker: subprocess.Popen
    watcher: subprocess.Popen
    logs: Path

    def assert_alive(self) -> None:
        for name, process in (("worker", self.worker), ("watcher", self.watcher)):
            log = (self.logs / f"{name}.log").read_text()
            assert process.poll() is None, f"the {name} exited:\n{log[-3000:]}"


@pytest.fixture
def stack(service_env, tmp_path) -> Iterator[Stack]:
    redis = RedisServer(tmp_path)
    redis.start()
    previous = celery_app.conf.broker_url
    _point_broker_at(redis.url)
    env = {**service_env, "BERTH_REDIS_URL": redis.url, "BERTH_LOG_FORMAT": "text"}
    worker = start_process(
        [sys.executable, "-m", "celery", "-A", "berth", "worker", "--pool", "prefork",
         "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "-n", f"faults-{os.getpid()}@%h"],
        env,
        tmp_path / "worker.log",
    )  # fmt: skip
    watcher = start_process(
        [sys.executable, "manage.py", "watch_fleet"], env, tmp_path / "watcher.log"
    )
    try:
        wait_for(
            lambda: celery_app.control.ping(timeout=0.5), timeout=60, what="the worker to start"
        )
        yield Stack(redis, worker, watcher, tmp_path)
    finally:
        stop_process(watcher, tmp_path / "watcher.log")
        stop_process(worker, tmp_path / "worker.log")
        redis.stop()
        _point_broker_at(previous)


def _register(host: FleetHost) -> Host:
    ssh_key = services.create_ssh_key(
        name=f"key for {host.name}", private_key=Path(host.private_key).read_text()
    )
    return services.register_host(
        name=host.name,
        address=host.address,
        port=host.port,
        username=host.user,
        ssh_key=ssh_key,
        docker_host=host.docker_host,
        host_key=host.host_key,
    )


def _refresh_succeeds(host: Host, timeout: float) -> Operation:
    operation = services.request_refresh(host, actor=None)

    def finished() -> Operation | None:
        operation.refresh_from_db()
        return operation if operation.finished else None

    wait_for(finished, timeout=timeout, what=f"refresh operation #{operation.pk} to finish")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    return operation


def test_redis_stopped_and_started_while_idle(fleet, stack):
    h1 = fleet["h1"]
    host = _register(h1)
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 to come online",
    )
    _refresh_succeeds(host, timeout=30)

    stack.redis.stop()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        services.request_refresh(host, actor=None)
    assert time.monotonic() - started < REFUSAL_BOUND
    refused = Operation.objects.order_by("-pk").first()
    assert refused is not None
    assert refused.status == OperationStatus.FAILED
    assert "task queue" in refused.error

    # A change on the host while Redis is away: the watcher sees the event and
    # cannot queue its refresh yet.
    name = f"fault-redis-{uuid.uuid4().hex[:8]}"
    h1.docker("create", "--name", name, f"{fleet.registry}/demo/sleeper:v1")
    try:
        time.sleep(8)  # idle under the outage: the worker and watcher retry, not exit
        stack.assert_alive()

        stack.redis.start()  # an empty Redis on the same port, as after a restart
        back = time.monotonic()
        _refresh_succeeds(host, timeout=RECOVERY_BOUND)
        recovered_in = time.monotonic() - back
        print(f"a refresh succeeded {recovered_in:.1f} s after Redis was back")
        # The watcher got back to Redis too: the refresh for the event it saw during
        # the outage was queued (or a later event's), so the container shows up.
        h1.docker("start", name)
        wait_for(
            lambda: Container.objects.filter(host=host, name=name, state="running").exists(),
            timeout=15,
            what=f"{name}, made during the outage, to show up running",
        )
        stack.assert_alive()
    finally:
        h1.docker("rm", "-f", name, check=False)


@pytest.fixture
def sleeper(fleet, stack):
    yield from service_on_the_fleet(_register, fleet)


def test_redis_stopped_mid_rollout(fleet, stack, sleeper):
    """The rollout's truth is in the database: a worker already running it carries on
    while Redis is away, and the rollout ends as it would have, one container per host."""
    revision = slow_sleeper(sleeper, fleet)
    rollout = deployments.request_deploy(sleeper, revision, actor=None, batch_size=1)
    switched(rollout, "h1")
    stack.redis.stop()
    time.sleep(5)  # h2 goes through its health gate meanwhile
    stack.assert_alive()
    stack.redis.start()
    back = time.monotonic()

    final = finished(rollout, timeout=90)
    print(
        f"[fault] Redis stopped 5 s mid-rollout: rollout {final.status} "
        f"{time.monotonic() - back:.1f} s after Redis was back"
    )
    assert final.status == RolloutStatus.SUCCEEDED, final.reason
    operation = Operation.objects.get(pk=rollout.operation_id)
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    for name in NAMES:
        assert_runs_only(fleet, name, sleeper, revision)
    stack.assert_alive()
