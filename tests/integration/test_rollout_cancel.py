"""Acceptance: cancelling a running rollout (through the API) stops it and puts every
host it had switched back on the previous revision; the rollout says it was cancelled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse

from deployments import services
from deployments.choices import HostStep, RolloutStatus
from deployments.models import RolloutHost, Service
from tests.fleet import wait_for
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    revision,
    service_on_the_fleet,
    steps,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(register, fleet) -> Iterator[Service]:
    yield from service_on_the_fleet(register, fleet)


def test_cancelling_a_rollout_after_its_first_host_puts_every_host_back(
    service, fleet, admin_client
):
    r1 = revision(service, fleet, "v1")
    assert (
        finished(services.request_deploy(service, r1, actor=None)).status == RolloutStatus.SUCCEEDED
    )
    # Revision 2 serves its page only after 4 s and the health gate waits for it, so
    # every host's deploy takes that long: a cancel sent once h1 is done reaches h2's
    # deploy in the middle of its health gate, never after it.
    r2 = revision(service, fleet, "v2", command=["/bin/sh", "-c", "sleep 4; exec /bin/start"])
    gate = {"mode": "http", "port": 80, "path": "/", "timeout_s": 60, "interval_s": 0.2}
    rollout = services.request_deploy(
        service, r2, actor=None, batch_size=1, max_failures=1, health={**gate, "retries": 300}
    )
    wait_for(
        lambda: RolloutHost.objects.filter(
            rollout=rollout, host__name="h1", step=HostStep.DONE
        ).exists(),
        timeout=60,
        what="h1 to be switched to revision 2",
    )

    answer = admin_client.post(reverse("rollout-cancel", args=[rollout.pk]))
    assert answer.status_code == 202, answer.content

    rollout = finished(rollout)
    assert rollout.status == RolloutStatus.CANCELLED, rollout.reason
    assert rollout.reason.startswith("cancelled"), rollout.reason
    assert "rolled back to revision 1" in rollout.reason
    assert steps(rollout)["h1"] == HostStep.ROLLED_BACK
    assert steps(rollout)["h2"] != HostStep.DONE  # its deploy was stopped before the switch
    assert steps(rollout)["h3"] == HostStep.SKIPPED
    assert rollout.operation is not None
    rollout.operation.refresh_from_db()
    assert rollout.operation.status == "cancelled", rollout.operation.error
    service.refresh_from_db()
    assert service.current_revision == r1
    for name in NAMES:
        assert_runs_only(fleet, name, service, r1)
