"""PostgreSQL restarted in the middle of a rollout: the worker loses its connection
part-way, records nothing wrong, and the rollout resumes once the database is back —
hosts it had switched are kept, one container per host, the operation succeeds.

Only in the PostgreSQL run of the suite (`make test` runs it second): SQLite is a file,
with no server to restart, so on SQLite this module holds no test."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from django.db import connection

from deployments import services
from deployments.choices import HostStep, RolloutStatus
from deployments.models import RolloutHost, Service
from hosts.choices import HostStatus
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import REPO, wait_for
from tests.integration.rollout_support import NAMES, finished, on_host

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_GATE = {"mode": "docker", "interval_s": 2, "retries": 3, "timeout_s": 60}


def _postgres(command: str) -> None:
    subprocess.run([str(REPO / "scripts" / "postgres"), command], check=True, capture_output=True)


if connection.vendor == "postgresql":

    def test_postgres_restarted_mid_rollout(register, fleet):
        hosts = [register(fleet[name]) for name in NAMES]
        wait_for(
            lambda: Host.objects.filter(status=HostStatus.ONLINE).count() == len(NAMES),
            what="h1, h2 and h3 online",
        )
        service = Service.objects.create(name=f"pg-{uuid.uuid4().hex[:6]}")
        service.hosts.set(hosts)
        revision = services.create_revision(
            service, spec={"image": f"{fleet.registry}/demo/sleeper:v1"}, health=SLOW_GATE
        )
        rollout = services.deploy(service, revision, actor=None, batch_size=1)
        try:
            wait_for(
                lambda: RolloutHost.objects.filter(
                    rollout=rollout, host__name="h1", step=HostStep.DONE
                ).exists(),
                timeout=60,
                what="h1 to be switched",
            )
            (h1_container,) = on_host(fleet, "h1", service.name)
            _postgres("down")  # fast shutdown: every connection is cut
            down_at = time.monotonic()
            time.sleep(3)
            _postgres("up")
            up_at = time.monotonic()
            connection.close()  # this process's connection died with the server too

            final = finished(rollout, timeout=120)
            print(
                f"[fault] PostgreSQL down {up_at - down_at:.1f} s mid-rollout: rollout "
                f"{final.status} {time.monotonic() - up_at:.1f} s after it was back"
            )
            assert final.status == RolloutStatus.SUCCEEDED, final.reason
            operation = Operation.objects.get(pk=rollout.operation_id)
            assert operation.status == OperationStatus.SUCCEEDED, operation.error
            assert operation.attempts >= 2
            # h1 was confirmed, not deployed again; every host has one container of r1.
            assert on_host(fleet, "h1", service.name) == [h1_container]
            for name in NAMES:
                containers = on_host(fleet, name, service.name)
                assert [(c["revision"], c["state"]) for c in containers] == [("1", "running")], (
                    f"{name}: {containers}"
                )
        finally:
            for name in NAMES:
                for container in on_host(fleet, name, service.name):
                    fleet[name].docker("rm", "-f", container["id"], check=False)
