"""Acceptance: deploy, health-gated automatic rollback, one-click rollback and
convergence of a service across three real hosts, images from the local registry."""

from __future__ import annotations

import http.client
import urllib.request

import pytest

from containers.models import Container
from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import Revision, Rollout, Service
from hosts.choices import HostStatus
from hosts.models import Host
from hosts.tasks import refresh_host
from tests.fleet import run_testbed, wait_for
from tests.integration.rollout_support import finished

pytestmark = pytest.mark.django_db(transaction=True)

PORT = 28080  # fixed host port: the stop-first strategy


def _page(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}:{PORT}/", timeout=5) as response:
        return response.read().decode()


def _containers_of(fleet_host, service: str) -> list[str]:
    out = fleet_host.docker(
        "ps", "-a", "--filter", f"label=berth.service={service}", "--format", "{{.Names}}"
    ).stdout
    return out.split()


@pytest.fixture
def web(register, fleet):
    hosts = [register(fleet[name]) for name in ("h1", "h2", "h3")]
    for host in hosts:
        wait_for(
            lambda host=host: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
            what=f"{host.name} online",
        )
    service = Service.objects.create(name="web")
    service.hosts.set(hosts)
    yield service
    for name in ("h1", "h2", "h3"):
        for container in _containers_of(fleet[name], "web"):
            fleet[name].docker("rm", "-f", container, check=False)


def _revision(service: Service, fleet, tag: str) -> Revision:
    spec = {
        "image": f"{fleet.registry}/demo/web:{tag}",
        "ports": [{"private": 80, "public": PORT}],
        "restart_policy": {"name": "unless-stopped"},
    }
    return services.create_revision(service, spec=spec, note=f"demo web {tag}")


def test_deploy_auto_rollback_and_one_click_rollback_across_three_hosts(web, fleet):
    addresses = [fleet[name].address for name in ("h1", "h2", "h3")]

    r1 = _revision(web, fleet, "v1")
    rollout = finished(services.request_deploy(web, r1, actor=None))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert all("demo web v1" in _page(address) for address in addresses)
    r1.refresh_from_db()
    assert r1.digest.startswith(f"{fleet.registry}/demo/web@sha256:")
    first_digest = r1.digest

    r2 = _revision(web, fleet, "v2")
    rollout = finished(services.request_deploy(web, r2, actor=None))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert all("demo web v2" in _page(address) for address in addresses)
    web.refresh_from_db()
    assert web.current_revision == r2

    r3 = _revision(web, fleet, "v3")
    rollout = finished(services.request_deploy(web, r3, actor=None, max_failures=1))
    assert rollout.status == RolloutStatus.ROLLED_BACK
    assert "failed" in rollout.reason
    assert all("demo web v2" in _page(address) for address in addresses)
    web.refresh_from_db()
    assert web.current_revision == r2
    assert rollout.operation.status == "failed"
    for name in ("h1", "h2", "h3"):
        assert len(_containers_of(fleet[name], "web")) == 1

    rollout = finished(services.request_rollback(web, r1, actor=None))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert all("demo web v1" in _page(address) for address in addresses)
    r1.refresh_from_db()
    assert r1.digest == first_digest
    for name in ("h1", "h2", "h3"):
        (container,) = _containers_of(fleet[name], "web")
        image = fleet[name].docker("inspect", "-f", "{{.Config.Image}}", container).stdout.strip()
        assert image == first_digest  # the pinned digest, not the tag

    # Redeploying the current revision (say, after a host was rebuilt) works too.
    fleet["h2"].docker("rm", "-f", *_containers_of(fleet["h2"], "web"))
    rollout = finished(services.request_deploy(web, r1, actor=None))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert "demo web v1" in _page(fleet["h2"].address)
    assert all(len(_containers_of(fleet[name], "web")) == 1 for name in ("h1", "h2", "h3"))


def test_second_rollout_while_one_runs_is_refused(web, fleet):
    r1 = _revision(web, fleet, "v1")
    first = services.request_deploy(web, r1, actor=None)
    with pytest.raises(services.RolloutConflict, match="still in progress"):
        services.request_deploy(web, r1, actor=None)
    finished(first)


def test_host_cut_off_mid_rollout_fails_then_converges(web, fleet, beat):
    r1 = _revision(web, fleet, "v1")
    assert finished(services.request_deploy(web, r1, actor=None)).status == RolloutStatus.SUCCEEDED
    r2 = _revision(web, fleet, "v2")

    run_testbed("link", "down", "h3")
    try:
        rollout = finished(
            services.request_deploy(web, r2, actor=None, batch_size=1, max_failures=2)
        )
    finally:
        run_testbed("link", "up", "h3")
    assert rollout.status == RolloutStatus.PARTIAL, rollout.reason
    steps = {step.host.name: step.step for step in rollout.hosts.select_related("host")}
    assert steps == {"h1": "done", "h2": "done", "h3": "failed"}
    web.refresh_from_db()
    assert web.current_revision == r2

    h3 = Host.objects.get(name="h3")
    refresh_host.delay(h3.pk)  # beat keeps refreshing too
    wait_for(
        lambda: "demo web v2" in _safe_page(fleet["h3"].address),
        timeout=90,
        what="h3 to converge to revision 2",
    )
    converge = wait_for(
        lambda: Rollout.objects.filter(
            service=web, kind="converge", hosts__host=h3, status=RolloutStatus.SUCCEEDED
        ).first(),
        what="the converge rollout on h3 to succeed",
    )
    assert converge.revision == r2
    assert len(_containers_of(fleet["h3"], "web")) == 1
    wait_for(
        lambda: Container.objects.filter(
            host=h3,
            state="running",
            **{"labels__berth.service": "web", "labels__berth.revision": "2"},
        ).exists(),
        what="Berth to see h3's revision 2 container",
    )


def _safe_page(address: str) -> str:
    try:
        return _page(address)
    except (OSError, http.client.HTTPException):  # mid-switch: nothing or half an answer
        return ""
