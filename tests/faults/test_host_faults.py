"""Faults on a managed host while Berth works on it: its dockerd restarted, its SSH
connection dropped, its agent process killed (its link cut: test_host_link_cut.py). Each
on the real test fleet with the session's worker; each outcome asserted, each wait
bounded, and the time from the fault's end to a consistent fleet printed (visible with -s).

A consistent fleet: no rollout or operation open, and every host's own engine runs
exactly one container of the service, running, on the service's current revision."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from django.urls import reverse

from deployments import services
from deployments.models import Service
from hosts.models import Host
from operations.choices import OperationStatus
from tests.faults.support import (
    SLOW_GATE,
    agent_pids,
    alive,
    assert_honest_end,
    assert_settled,
    holding_a_service_lock,
    on_first_revision,
    open_operations,
    parent,
    rollout_summary,
    settle,
    wait_gone,
    wait_health_checking,
)
from tests.fleet import run_testbed, wait_for
from tests.integration.container_support import act, host_container, known_container, post
from tests.integration.container_support import finished as operation_finished
from tests.integration.rollout_support import (
    finished,
    on_host,
    service_on_the_fleet,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(register, fleet) -> Iterator[Service]:
    yield from service_on_the_fleet(register, fleet)


def test_dockerd_restarted_during_the_health_gate(service, fleet):
    r1, r2 = on_first_revision(service, fleet)

    rollout = services.request_deploy(service, r2, actor=None, batch_size=1, health=SLOW_GATE)
    wait_health_checking(rollout, "h2")
    run_testbed("dockerd", "restart", "h2")
    back = time.monotonic()

    rollout = finished(rollout, timeout=90)
    assert "h2" in rollout.reason, rollout_summary(rollout)
    assert_honest_end(rollout, service, r1, r2)
    recovered = settle(fleet, service, since=back)
    assert_settled(fleet, service)
    print(
        f"\n[fault] dockerd of h2 restarted during its health gate: rollout {rollout.status} "
        f"({rollout.reason}); fleet consistent {recovered:.1f} s after dockerd was back"
    )


def test_ssh_connection_dropped_during_the_health_gate(service, fleet):
    r1, r2 = on_first_revision(service, fleet)

    rollout = services.request_deploy(service, r2, actor=None, batch_size=1, health=SLOW_GATE)
    wait_health_checking(rollout, "h2")
    agents = agent_pids(fleet, "h2")
    deploying = holding_a_service_lock(agents)
    assert len(deploying) == 1, f"agents on h2: {agents}, deploying: {deploying}"
    # Restarting sshd alone leaves established sessions up (as `systemctl restart ssh`
    # does), so each agent's session process is ended too: the connection drops.
    run_testbed("sshd", "stop", "h2")
    try:
        for pid in {parent(pid) for pid in agents}:
            os.kill(pid, signal.SIGTERM)
        time.sleep(1)
        # An idle agent exits at once on the EOF; the one deploying carries on.
        assert alive(deploying[0]), "the deploying agent died with its SSH session"
        # The agent finishes (or undoes) its deploy on its own, then exits.
        took = wait_gone(agents, timeout=45, what="h2's agents to finish and exit")
        containers = on_host(fleet, "h2", service.name)
        assert len(containers) == 1, containers
        assert containers[0]["state"] == "running", containers
        assert containers[0]["revision"] in ("1", "2"), containers
    finally:
        run_testbed("sshd", "start", "h2")
    back = time.monotonic()

    rollout = finished(rollout, timeout=90)
    assert "h2" in rollout.reason, rollout_summary(rollout)
    assert_honest_end(rollout, service, r1, r2)
    recovered = settle(fleet, service, since=back)
    assert_settled(fleet, service)
    print(
        f"\n[fault] SSH of h2 dropped during its health gate: the agent ended its deploy "
        f"(h2 on revision {containers[0]['revision']}) and exited {took + 1:.1f} s after the "
        f"drop; rollout {rollout.status} ({rollout.reason}); fleet consistent "
        f"{recovered:.1f} s after sshd was back"
    )


def test_agent_killed_between_calls(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = register(h1)
    wait_for(
        lambda: Host.objects.get(pk=host.pk).status == "online",
        timeout=60,
        what="h1 online",
    )
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)
        warm = act(admin_client, container, "restart", {"timeout": 1})
        assert warm.status == OperationStatus.SUCCEEDED, warm.error

        agents = agent_pids(fleet, "h1")
        assert agents, "no agent of this session runs on h1"
        for pid in agents:
            os.kill(pid, signal.SIGKILL)
        wait_gone(agents, timeout=5, what="h1's agents to die")
        killed = time.monotonic()

        operation = act(admin_client, container, "restart", {"timeout": 1})
        action_after = time.monotonic() - killed
        assert operation.status == OperationStatus.SUCCEEDED, operation.error
        assert action_after < 20, f"the restart took {action_after:.1f} s"

        response = post(admin_client, reverse("host-refresh", args=[host.pk]))
        assert response.status_code == 202, response.content
        refresh = operation_finished(response.json()["operation"], timeout=30)
        assert refresh.status == OperationStatus.SUCCEEDED, refresh.error
        recovered = time.monotonic() - killed

        fresh = set(agent_pids(fleet, "h1")) - set(agents)
        assert fresh, "no new agent was started on h1"
        assert open_operations() == []
    print(
        f"\n[fault] every agent of h1 SIGKILLed between calls: the next container restart "
        f"succeeded {action_after:.1f} s after the kill, a refresh too at {recovered:.1f} s"
    )
