"""A worker process killed with SIGKILL in the middle of a rollout: the task is handed
back to the queue, and the rollout resumes where it was. A host it had already
switched is confirmed on the host and left alone, not deployed a second time."""

from __future__ import annotations

import os
import signal

import pytest

from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import RolloutHost, Service
from operations.models import Operation
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    on_host,
    service_on_the_fleet,
    slow_sleeper,
    switched,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sleeper(register, fleet):
    yield from service_on_the_fleet(register, fleet)


def test_a_rollout_whose_worker_is_killed_resumes_without_redoing_a_host(sleeper: Service, fleet):
    revision = slow_sleeper(sleeper, fleet)
    rollout = services.request_deploy(sleeper, revision, actor=None, batch_size=1)

    h1_done = switched(rollout, "h1")
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
        assert_runs_only(fleet, name, sleeper, revision)
