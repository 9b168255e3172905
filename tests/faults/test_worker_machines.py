"""A worker machine lost in the middle of a rollout and of a refresh cycle.

Two worker machines (tests/worker_machines.py: network namespaces with host names of
their own, reaching Redis and PostgreSQL over their veth) serve the fleet, with the
hosts split into two shards and each shard consumed by both machines. The machine
running the rollout is SIGKILLed whole. Within BERTH_WORKER_LOST_AFTER and one reaper
interval the other machine takes the rollout over and finishes it with exactly one
container per host, refreshes every host, and no operation is left pending or running.

Only in the PostgreSQL run of the suite: machines reach the database over the network,
which a SQLite file has none of, so on SQLite this module holds no test."""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.parse

import pytest
from django.db import connection
from django.utils import timezone

from berth.celery import app as celery_app
from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import Service
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import wait_for
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    on_host,
    service_on_the_fleet,
    slow_sleeper,
    switched,
)
from tests.live_services import start_process, stop_process
from tests.worker_machines import WorkerMachines

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "celery"
SHARDS = 2
HEARTBEAT = 1.0
LOST_AFTER = 5.0
REAPER_INTERVAL = 2.0


def _session_worker() -> str:
    return f"test-{os.getpid()}@{socket.gethostname()}"


if connection.vendor == "postgresql":

    @pytest.fixture
    def sleeper(register, fleet):
        yield from service_on_the_fleet(register, fleet)

    def test_a_worker_machine_lost_mid_rollout_and_refresh(
        sleeper: Service, fleet, service_env, tmp_path
    ):
        timings = {
            "BERTH_HOST_SHARDS": str(SHARDS),
            "BERTH_WORKER_HEARTBEAT": str(HEARTBEAT),
            "BERTH_WORKER_LOST_AFTER": str(LOST_AFTER),
            "BERTH_REAPER_INTERVAL": str(REAPER_INTERVAL),
            "BERTH_REFRESH_INTERVAL": "2",
        }
        with WorkerMachines(fleet, tmp_path, count=2) as machines:
            redis_url = service_env["BERTH_REDIS_URL"]
            database_url = service_env["DATABASE_URL"]
            for url in (redis_url, database_url):
                port = urllib.parse.urlsplit(url).port
                assert port is not None
                machines.forward(port)
            machine_env = {
                **service_env,
                **timings,
                "BERTH_REDIS_URL": machines.via_services_ip(redis_url),
                "DATABASE_URL": machines.via_services_ip(database_url),
            }
            queues = ",".join([QUEUE, *(f"hosts.{index}" for index in range(SHARDS))])
            for machine in machines.machines:
                machines.start_worker(machine, machine_env, queues)
            wait_for(
                lambda: (
                    {name for reply in celery_app.control.ping(timeout=0.5) for name in reply}
                    >= {"machine@wm1", "machine@wm2"}
                ),
                timeout=60,
                what="the workers of both machines to answer",
            )
            # From here only the machines take tasks: the session's worker stops
            # taking the default queue (it never took the shard queues).
            session = _session_worker()
            celery_app.control.cancel_consumer(QUEUE, destination=[session], reply=True, timeout=5)
            beat_log = tmp_path / "beat.log"
            beat = start_process(
                [sys.executable, "-m", "celery", "-A", "berth", "beat", "--loglevel", "INFO",
                 "--schedule", str(tmp_path / "schedule"), "--pidfile="],
                {**service_env, **timings},
                beat_log,
            )  # fmt: skip
            try:
                _lose_the_rollouts_machine(sleeper, fleet, machines)
            finally:
                stop_process(beat, beat_log)
                celery_app.control.add_consumer(QUEUE, destination=[session], reply=True, timeout=5)

    def _lose_the_rollouts_machine(sleeper: Service, fleet, machines: WorkerMachines) -> None:
        revision = slow_sleeper(sleeper, fleet)
        rollout = services.request_deploy(sleeper, revision, actor=None, batch_size=1)
        switched(rollout, "h1")
        (h1_container,) = on_host(fleet, "h1", sleeper.name)
        operation = Operation.objects.get(pk=rollout.operation_id)
        node = operation.claimed_by.rpartition(":")[0]
        (victim,) = [m for m in machines.machines if m.hostname == node]
        (survivor,) = [m for m in machines.machines if m is not victim]
        # Both machines refresh hosts (each consumes both shards); the kill lands in
        # the middle of a cycle, every 2 s.
        killed_at = timezone.now()
        killed = victim.kill()
        start = time.monotonic()
        assert killed, f"no process was running on {victim.hostname}"

        taken = wait_for(
            lambda: Operation.objects.filter(
                pk=operation.pk, claimed_by__startswith=f"{survivor.hostname}:"
            ).first(),
            timeout=LOST_AFTER + 10 * REAPER_INTERVAL + 30,
            what=f"{survivor.hostname} to take the rollout over",
        )
        taken_after = time.monotonic() - start
        final = finished(rollout, timeout=120)
        finished_after = time.monotonic() - start
        wait_for(
            lambda: (
                Host.objects.filter(name__in=NAMES, last_checked_at__gt=killed_at).count()
                == len(NAMES)
            ),
            timeout=60,
            what=f"{survivor.hostname} to refresh every host",
        )
        refreshed_after = time.monotonic() - start
        open_operations = wait_for(
            lambda: (
                not Operation.objects.filter(
                    status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
                ).exists()
            ),
            timeout=60,
            what="no operation pending or running",
        )
        print(
            f"[fault] worker machine {victim.hostname} killed ({len(killed)} processes) "
            f"mid-rollout: {survivor.hostname} took the rollout over {taken_after:.1f} s "
            f"later, finished it at {finished_after:.1f} s, every host refreshed by "
            f"{refreshed_after:.1f} s (heartbeat {HEARTBEAT:g} s, lost after "
            f"{LOST_AFTER:g} s, reaper every {REAPER_INTERVAL:g} s)"
        )

        assert open_operations
        assert final.status == RolloutStatus.SUCCEEDED, final.reason
        operation.refresh_from_db()
        assert operation.status == OperationStatus.SUCCEEDED, operation.error
        assert operation.attempts == 2
        assert taken.claimed_by.startswith(f"{survivor.hostname}:")
        # h1 was switched before the loss: confirmed, not deployed again.
        assert on_host(fleet, "h1", sleeper.name) == [h1_container]
        for name in NAMES:
            assert_runs_only(fleet, name, sleeper, revision)
