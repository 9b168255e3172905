"""Helpers shared by the rollout integration tests (test_rollout_*.py): a service on
h1, h2 and h3, and what each host's own engine says runs of it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from deployments import services
from deployments.choices import HostStep, RolloutStatus
from deployments.models import Revision, Rollout, RolloutHost, Service
from hosts.choices import HostStatus
from hosts.models import Host
from operations.choices import OperationStatus
from tests.fleet import Fleet, wait_for

NAMES = ("h1", "h2", "h3")


def finished(rollout: Rollout, timeout: float = 120) -> Rollout:
    """The rollout once it and its operation have both ended. The controller writes the
    rollout's outcome first and the worker ends the operation after its handler returns
    (its last progress lines written first), so for a moment the rollout may read ended
    while its operation still reads running."""
    return wait_for(
        lambda: (
            Rollout.objects.filter(pk=rollout.pk)
            .exclude(status__in=[RolloutStatus.PENDING, RolloutStatus.RUNNING])
            .exclude(operation__status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
            .select_related("operation")
            .first()
        ),
        timeout=timeout,
        what=f"rollout #{rollout.pk} to finish",
    )


def on_host(fleet: Fleet, name: str, service: str) -> list[dict[str, str]]:
    """Every container of the service on the host, as its own engine reports it."""
    out = (
        fleet[name]
        .docker(
            "ps",
            "-a",
            "--filter",
            f"label=berth.service={service}",
            "--format",
            '{{.ID}} {{.State}} {{.Label "berth.revision"}}',
        )
        .stdout
    )
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [{"id": r[0], "state": r[1], "revision": r[2]} for r in rows]


def steps(rollout: Rollout) -> dict[str, str]:
    return {
        step.host.name: step.step
        for step in RolloutHost.objects.filter(rollout=rollout).select_related("host")
    }


def messages(rollout: Rollout) -> dict[str, str]:
    return {
        step.host.name: step.message
        for step in RolloutHost.objects.filter(rollout=rollout).select_related("host")
    }


def revision(service: Service, fleet: Fleet, tag: str, **spec: Any) -> Revision:
    return services.create_revision(
        service,
        spec={"image": f"{fleet.registry}/demo/web:{tag}", **spec},
        note=f"demo web {tag}",
    )


def assert_runs_only(fleet: Fleet, name: str, service: Service, revision: Revision) -> None:
    """The host runs exactly one container of the service, on ``revision``."""
    containers = on_host(fleet, name, service.name)
    assert len(containers) == 1, f"{name}: {containers}"
    (container,) = containers
    assert container["state"] == "running", f"{name}: {container}"
    assert container["revision"] == str(revision.number), f"{name}: {container}"
    revision.refresh_from_db()
    # Its first deploy ran the tag; a host put back runs the digest pinned then.
    image = fleet[name].docker("inspect", "-f", "{{.Config.Image}}", container["id"]).stdout
    assert image.strip() in (revision.image, revision.digest), f"{name}: {image}"


# No HEALTHCHECK in demo/sleeper: this docker gate waits interval_s * retries (6 s) for
# the container to stay up, so a host's step lasts long enough to break something
# in the middle of it.
SLOW_GATE = {"mode": "docker", "interval_s": 2, "retries": 3, "timeout_s": 60}


def online_hosts(register: Any, fleet: Fleet) -> list[Host]:
    """h1, h2 and h3 registered, once all three are online."""
    hosts: list[Host] = [register(fleet[name]) for name in NAMES]
    wait_for(
        lambda: (
            Host.objects.filter(pk__in=[h.pk for h in hosts], status=HostStatus.ONLINE).count()
            == len(hosts)
        ),
        what="h1, h2 and h3 online",
    )
    return hosts


def service_on_the_fleet(register: Any, fleet: Fleet) -> Iterator[Service]:
    """For a fixture: a service on h1, h2, h3 (in that order: one batch each with batch
    size 1), its containers removed from every host afterwards."""
    hosts = online_hosts(register, fleet)
    created = Service.objects.create(name=f"undo-{uuid.uuid4().hex[:6]}")
    created.hosts.set(hosts)
    yield created
    for name in NAMES:
        for container in on_host(fleet, name, created.name):
            fleet[name].docker("rm", "-f", container["id"], check=False)


def slow_sleeper(service: Service, fleet: Fleet) -> Revision:
    """A revision of demo/sleeper whose health gate keeps each host busy about 6 s."""
    return services.create_revision(
        service, spec={"image": f"{fleet.registry}/demo/sleeper:v1"}, health=SLOW_GATE
    )


def switched(rollout: Rollout, name: str, timeout: float = 60) -> RolloutHost:
    """Wait until the rollout has switched host ``name`` (its step is done)."""
    return wait_for(
        lambda: RolloutHost.objects.filter(
            rollout=rollout, host__name=name, step=HostStep.DONE
        ).first(),
        timeout=timeout,
        what=f"{name} to be switched",
    )
