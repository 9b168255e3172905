"""Helpers for the host fault tests: the test bed's processes seen from outside (which
agent runs in which host), and the fleet's settled state as Berth and the hosts' own
engines report it."""

from __future__ import annotations

import os
import time
from typing import Any

from deployments import services
from deployments.choices import ACTIVE_ROLLOUT_STATUSES, HostStep, RolloutStatus
from deployments.models import Revision, Rollout, RolloutHost, Service
from hosts.models import Host
from hosts.tasks import refresh_host
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import Fleet, wait_for
from tests.integration.rollout_support import NAMES, assert_runs_only, finished, on_host

# When this test session began, on the clock /proc/PID/stat counts process start times
# in: an agent started later was started by this session's worker, not left over from
# another session that used the shared test bed.
SESSION_STARTED = time.clock_gettime(time.CLOCK_BOOTTIME)
_TICKS = os.sysconf("SC_CLK_TCK")

# A health gate that keeps a host's step in "health-checking" for about 6 s: the sleeper
# image has no health check, so the container must stay running interval_s * retries.
SLOW_GATE = {"mode": "docker", "interval_s": 2, "retries": 3}
NO_GATE = {"mode": "none"}


def sleeper_revision(service: Service, fleet: Fleet, note: str) -> Revision:
    """A revision of the sleeper image that the engine restarts after a daemon restart,
    as a production service's restart policy would."""
    return services.create_revision(
        service,
        spec={
            "image": f"{fleet.registry}/demo/sleeper:v1",
            "restart_policy": {"name": "unless-stopped"},
        },
        note=note,
    )


# --- a rollout to fault -------------------------------------------------------------------


# Rollout statuses that leave the service on the revision it had before.
KEPT_PREVIOUS = (RolloutStatus.ROLLED_BACK, RolloutStatus.FAILED, RolloutStatus.CANCELLED)


def on_first_revision(service: Service, fleet: Fleet) -> tuple[Revision, Revision]:
    """Every host on revision 1 (no health gate, so it is quick); revision 2 made."""
    r1 = sleeper_revision(service, fleet, "sleeper, first")
    first = finished(services.request_deploy(service, r1, actor=None, health=NO_GATE), timeout=60)
    assert first.status == RolloutStatus.SUCCEEDED, first.reason
    return r1, sleeper_revision(service, fleet, "sleeper, second")


def wait_health_checking(rollout: Rollout, name: str, timeout: float = 60) -> None:
    """Until the host's deploy in this rollout is in its health gate (SLOW_GATE: ~6 s)."""
    wait_for(
        lambda: RolloutHost.objects.filter(
            rollout=rollout, host__name=name, step=HostStep.HEALTH_CHECKING
        ).exists(),
        timeout=timeout,
        interval=0.05,
        what=f"{name} to be health-checking in rollout #{rollout.pk}",
    )


def assert_honest_end(rollout: Rollout, service: Service, r1: Revision, r2: Revision) -> None:
    """The service's revision is what the rollout's status says it is."""
    service.refresh_from_db()
    expected = r1 if rollout.status in KEPT_PREVIOUS else r2
    assert service.current_revision == expected, rollout_summary(rollout)
    assert rollout.operation is not None
    rollout.operation.refresh_from_db()
    assert rollout.operation.finished, rollout.operation.status


def assert_settled(fleet: Fleet, service: Service) -> None:
    """Every host runs exactly one container, of the current revision's image; nothing open."""
    service.refresh_from_db()
    assert service.current_revision is not None
    for name in NAMES:
        assert_runs_only(fleet, name, service, service.current_revision)
    assert open_operations() == []


# --- processes on the test bed ---------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


def parent(pid: int) -> int:
    return int(_stat(pid)[1])


def agent_pids(fleet: Fleet, name: str) -> list[int]:
    """Agent processes running inside the host's network namespace that this test
    session's worker started (pgrep -f berth-agent.pyz, filtered by namespace and age)."""
    netns = os.stat(f"/run/netns/{fleet.raw_host(name)['netns']}").st_ino
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"berth-agent.pyz" not in cmdline.read():
                    continue
            if os.stat(f"/proc/{pid}/ns/net").st_ino != netns:
                continue
            started = int(_stat(pid)[19]) / _TICKS
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if started >= SESSION_STARTED - 1 and alive(pid):
            found.append(pid)
    return sorted(found)


def holding_a_service_lock(pids: list[int]) -> list[int]:
    """Those of the agents that have a service's lock file open: the ones in the middle
    of a service.deploy or service.remove (agent/README.md, one change at a time)."""
    holding = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds]
        except OSError:
            continue  # exited, or an fd closed meanwhile: look again next time
        if any("/.berth/locks/service-" in target for target in targets):
            holding.append(pid)
    return holding


def wait_gone(pids: list[int], timeout: float, what: str) -> float:
    """Wait until none of pids runs; return how long that took."""
    started = time.monotonic()
    while any(alive(pid) for pid in pids):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


# --- the fleet's settled state -------------------------------------------------------------


def open_operations() -> list[str]:
    return [
        f"#{op.pk} {op.action} {op.status}"
        for op in Operation.objects.filter(
            status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
        )
    ]


def inconsistencies(fleet: Fleet, service: Service) -> list[str]:
    """What keeps the fleet from being consistent: an open rollout or operation, or a
    host whose engine does not run exactly one running container of the service's
    current revision. Empty when consistent."""
    service.refresh_from_db()
    current = service.current_revision
    problems = [
        f"rollout #{r.pk} ({r.kind}) {r.status}"
        for r in Rollout.objects.filter(service=service, status__in=ACTIVE_ROLLOUT_STATUSES)
    ]
    problems += open_operations()
    for name in NAMES:
        containers = on_host(fleet, name, service.name)
        wanted = [
            c
            for c in containers
            if current is not None
            and c["state"] == "running"
            and c["revision"] == str(current.number)
        ]
        if len(containers) != 1 or len(wanted) != 1:
            problems.append(f"{name} runs {containers}")
    return problems


def settle(fleet: Fleet, service: Service, since: float, timeout: float = 90) -> float:
    """Refresh the hosts (as the periodic refresh would, only more often) until the
    fleet is consistent; return the seconds from ``since`` (a time.monotonic()) to then.

    Convergence acts on a refresh only BERTH_CONVERGE_SETTLE (5 s in tests) after the
    service's last rollout ended, so this takes at least that long after a rollout."""
    hosts = list(Host.objects.filter(name__in=NAMES).values_list("pk", flat=True))
    deadline = time.monotonic() + timeout
    refreshed = 0.0
    while problems := inconsistencies(fleet, service):
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"the fleet did not settle within {timeout:g} s: {problems}")
        if now - refreshed > 2:
            for pk in hosts:
                refresh_host.delay(pk)
            refreshed = now
        time.sleep(0.3)
    return time.monotonic() - since


def rollout_summary(rollout: Rollout) -> dict[str, Any]:
    return {
        "status": rollout.status,
        "reason": rollout.reason,
        "steps": {
            step.host.name: (step.step, step.message)
            for step in rollout.hosts.select_related("host")
        },
    }
