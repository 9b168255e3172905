"""A host's link cut while its deploy is in the health gate: the rollout fails that host
with a reason a person can read instead of waiting on it, the other hosts end on one
revision, and once the link is back convergence leaves exactly one container per host and
no rollout stuck. (tests/integration/test_deploy_rollback.py cuts a host off before its
turn; here the cut comes while the agent is already working.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from deployments import services
from deployments.choices import HostStep
from deployments.models import RolloutHost, Service
from tests.faults.support import (
    SLOW_GATE,
    assert_honest_end,
    assert_settled,
    on_first_revision,
    rollout_summary,
    settle,
    wait_health_checking,
)
from tests.fleet import run_testbed, wait_for
from tests.integration.rollout_support import assert_runs_only, finished, service_on_the_fleet

pytestmark = pytest.mark.django_db(transaction=True)

# A host that stops answering mid-deploy must be given up within this, not after the
# deploy's own time limit (BERTH_DEPLOY_HOST_TIMEOUT, 600 s).
GIVE_UP_BOUND = 30.0


@pytest.fixture
def service(register, fleet) -> Iterator[Service]:
    yield from service_on_the_fleet(register, fleet)


def test_link_cut_during_the_health_gate(service, fleet):
    r1, r2 = on_first_revision(service, fleet)

    rollout = services.request_deploy(
        service, r2, actor=None, batch_size=1, max_failures=2, health=SLOW_GATE
    )
    wait_health_checking(rollout, "h2")
    run_testbed("link", "down", "h2")
    try:
        cut = time.monotonic()
        wait_for(
            lambda: RolloutHost.objects.filter(
                rollout=rollout, host__name="h2", step=HostStep.FAILED
            ).first(),
            timeout=GIVE_UP_BOUND,
            what="h2's step to fail while its link is down",
        )
        failed_after = time.monotonic() - cut
    finally:
        run_testbed("link", "up", "h2")
    back = time.monotonic()

    rollout = finished(rollout, timeout=90)
    summary = rollout_summary(rollout)
    assert summary["steps"]["h2"][0] == HostStep.FAILED, summary
    assert summary["steps"]["h2"][1], summary  # a reason a person can read
    assert "h2" in rollout.reason, summary
    assert_honest_end(rollout, service, r1, r2)
    # The hosts the rollout did not fail are on one revision, the service's.
    service.refresh_from_db()
    for name in ("h1", "h3"):
        assert_runs_only(fleet, name, service, service.current_revision)
    recovered = settle(fleet, service, since=back)
    assert_settled(fleet, service)
    print(
        f"\n[fault] link of h2 cut during its health gate: its step failed "
        f"{failed_after:.1f} s after the cut; rollout {rollout.status} ({rollout.reason}); "
        f"fleet consistent {recovered:.1f} s after the link was back"
    )
