"""Acceptance: a rollout that fails part-way puts back every host it had already switched.

Batches of one host run h1, then h2, then h3. To fail h2 alone, a container started
there with the docker CLI (as an operator might) holds the host port the new revision
publishes: h1 switches, h2's deploy fails (and the agent undoes it), and the
controller has to undo h1 itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from deployments import services
from deployments.choices import HostStep, RolloutStatus
from deployments.models import Service
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    messages,
    on_host,
    revision,
    service_on_the_fleet,
    steps,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(register, fleet) -> Iterator[Service]:
    yield from service_on_the_fleet(register, fleet)


BLOCKED_PORT = 28091  # published by the revision that fails on h2


@pytest.fixture
def port_taken_on_h2(fleet) -> Iterator[str]:
    """A container outside Berth holding BLOCKED_PORT on h2."""
    name = f"it-blocker-{uuid.uuid4().hex[:6]}"
    fleet["h2"].docker(
        "run", "-d", "--name", name, "-p", f"{BLOCKED_PORT}:80",
        f"{fleet.registry}/demo/sleeper:v1",
    )  # fmt: skip
    yield name
    fleet["h2"].docker("rm", "-f", name, check=False)


def test_a_host_switched_before_another_failed_goes_back_to_the_previous_revision(
    service, fleet, port_taken_on_h2
):
    r1 = revision(service, fleet, "v1")
    first = finished(services.request_deploy(service, r1, actor=None))
    assert first.status == RolloutStatus.SUCCEEDED, first.reason
    r2 = revision(service, fleet, "v2", ports=[{"private": 80, "public": BLOCKED_PORT}])

    rollout = finished(
        services.request_deploy(service, r2, actor=None, batch_size=1, max_failures=1)
    )

    assert rollout.status == RolloutStatus.ROLLED_BACK, rollout.reason
    assert steps(rollout) == {
        "h1": HostStep.ROLLED_BACK,  # switched, then put back by the controller
        "h2": HostStep.FAILED,  # put back by the agent itself
        "h3": HostStep.SKIPPED,  # never touched
    }
    assert "h2" in rollout.reason and "rolled back to revision 1" in rollout.reason
    assert "revision 1" in messages(rollout)["h1"]
    assert rollout.operation is not None
    rollout.operation.refresh_from_db()
    assert rollout.operation.status == "failed"
    service.refresh_from_db()
    assert service.current_revision == r1
    for name in NAMES:
        assert_runs_only(fleet, name, service, r1)


def test_a_first_deploy_that_fails_part_way_leaves_nothing_behind(service, fleet, port_taken_on_h2):
    r1 = revision(service, fleet, "v1", ports=[{"private": 80, "public": BLOCKED_PORT}])

    rollout = finished(
        services.request_deploy(service, r1, actor=None, batch_size=1, max_failures=1)
    )

    assert rollout.status == RolloutStatus.ROLLED_BACK, rollout.reason
    assert steps(rollout) == {
        "h1": HostStep.ROLLED_BACK,  # its new container removed: there was nothing before
        "h2": HostStep.FAILED,
        "h3": HostStep.SKIPPED,
    }
    assert "removed" in messages(rollout)["h1"]
    assert "no deployment" in rollout.reason
    service.refresh_from_db()
    assert service.current_revision is None
    for name in NAMES:
        assert on_host(fleet, name, service.name) == [], name
    # The container holding the port was never Berth's to touch.
    state = fleet["h2"].docker("inspect", "-f", "{{.State.Status}}", port_taken_on_h2)
    assert state.stdout.strip() == "running"
