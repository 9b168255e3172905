"""A worker process killed with SIGKILL in the middle of a rollout: the task is handed
back to the queue, and the rollout resumes where it was. A host it had already
switched is confirmed on the host and left alone, not deployed a second time."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from deployments import services
from deployments.choices import HostStep, RolloutStatus
from deployments.models import RolloutHost, Service
from hosts.choices import HostStatus
from hosts.models import Host
from operations.models import Operation
from tests.fleet import wait_for
from tests.integration.rollout_support import NAMES, finished, on_host

pytestmark = pytest.mark.django_db(transaction=True)

# No HEALTHCHECK in demo/sleeper: the docker gate waits interval_s * retries (6 s) for
# the container to stay up, so each host's step lasts long enough to kill the worker
# while the second host is under way.
SLOW_GATE = {"mode": "docker", "interval_s": 2, "retries": 3, "timeout_s": 60}


@pytest.fixture
def sleeper(register, fleet):
    hosts = [register(fleet[name]) for name in NAMES]
    wait_for(
        lambda: Host.objects.filter(status=HostStatus.ONLINE).count() == len(NAMES),
        what="h1, h2 and h3 online",
    )
    service = Service.objects.create(name=f"resume-{uuid.uuid4().hex[:6]}")
    service.hosts.set(hosts)
    yield service
    for name in NAMES:
        for container in on_host(fleet, name, service.name):
            fleet[name].docker("rm", "-f", container["id"], check=False)


def test_a_rollout_whose_worker_is_killed_resumes_without_redoing_a_host(sleeper, fleet):
    revision = services.create_revision(
        sleeper, spec={"image": f"{fleet.registry}/demo/sleeper:v1"}, health=SLOW_GATE
    )
    rollout = services.deploy(sleeper, revision, actor=None, batch_size=1)

    h1_done = wait_for(
        lambda: RolloutHost.objects.filter(
            rollout=rollout, host__name="h1", step=HostStep.DONE
        ).first(),
        timeout=60,
        what="h1 to be switched",
    )
    (h1_container,) = on_host(fleet, "h1", sleeper.name)
    operation = Operation.objects.get(pk=rollout.operation_id)
    assert operation.status == "running", "the rollout ended before the worker could be killed"
    node, _, pid = operation.claimed_by.rpartition(":")
    assert node == os.uname().nodename
    os.kill(int(pid), signal.SIGKILL)

    final = finished(rollout, timeout=180)

    assert final.status == RolloutStatus.SUCCEEDED, final.reason
    assert Operation.objects.get(pk=rollout.operation_id).attempts == 2
    # h1 kept the container its first switch started: it was confirmed, not redeployed.
    assert on_host(fleet, "h1", sleeper.name) == [h1_container]
    assert h1_done.container_id.startswith(h1_container["id"])
    h1_step = RolloutHost.objects.get(rollout=rollout, host__name="h1")
    assert "confirmed on revision 1" in h1_step.message
    for name in NAMES:
        containers = on_host(fleet, name, sleeper.name)
        assert len(containers) == 1, f"{name}: {containers}"
        assert containers[0]["state"] == "running", f"{name}: {containers}"
        assert containers[0]["revision"] == "1", f"{name}: {containers}"
