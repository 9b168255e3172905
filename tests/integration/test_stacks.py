"""Acceptance: a two-service stack (a Compose file) rolled out to three real hosts in
batches of one, a new revision that keeps the named volume's data, a failing health
check rolled back automatically with nothing left behind, and a one-click rollback."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import Rollout, Service
from hosts.models import Host
from hosts.tasks import refresh_host
from tests.fleet import Fleet, run_testbed, wait_for
from tests.integration.rollout_support import NAMES, finished, online_hosts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]

PORT = 28180  # web's fixed host port: its old container stops before the new one starts


def compose(fleet: Fleet, tag: str) -> str:
    return f"""# the test stack: web serves its page; cache is on the same network
services:
  web:
    image: {fleet.registry}/demo/web:{tag}
    depends_on:
      cache: {{condition: service_started}}
    ports: ["{PORT}:80"]
    volumes: ["data:/data"]
    restart: unless-stopped
  cache:
    image: {fleet.registry}/demo/sleeper:v1
volumes:
  data:
"""


def on_host(fleet: Fleet, name: str, stack: str) -> list[dict[str, str]]:
    """Every container of the stack on the host, as its own engine reports it."""
    out = (
        fleet[name]
        .docker(
            "ps", "-a", "--filter", f"label=berth.stack={stack}", "--format",
            '{{.ID}} {{.State}} {{.Label "berth.component"}} {{.Label "berth.revision"}}',
        )
        .stdout
    )  # fmt: skip
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [{"id": r[0], "state": r[1], "component": r[2], "revision": r[3]} for r in rows]


def owned(fleet: Fleet, name: str, kind: str, stack: str) -> list[str]:
    out = fleet[name].docker(
        kind, "ls", "--filter", f"label=berth.stack={stack}", "--format", "{{.Name}}"
    )
    return sorted(out.stdout.split())


def assert_runs(fleet: Fleet, stack: str, number: int) -> None:
    """Each host runs exactly the revision's two containers, running, and no others."""
    for name in NAMES:
        found = on_host(fleet, name, stack)
        assert sorted((c["component"], c["revision"], c["state"]) for c in found) == [
            ("cache", str(number), "running"),
            ("web", str(number), "running"),
        ], f"{name}: {found}"
        assert owned(fleet, name, "network", stack) == [f"{stack}_default"], name
        assert owned(fleet, name, "volume", stack) == [f"{stack}_data"], name


def page(address: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{address}:{PORT}/", timeout=5) as response:
        return response.read().decode()


def web_container(fleet: Fleet, name: str, stack: str) -> str:
    (web,) = [c for c in on_host(fleet, name, stack) if c["component"] == "web"]
    return web["id"]


def note(fleet: Fleet, name: str, stack: str) -> str:
    """What the web container on host ``name`` reads from the named volume."""
    container = web_container(fleet, name, stack)
    return fleet[name].docker("exec", container, "cat", "/data/note").stdout.strip()


@pytest.fixture
def shop(register: Any, fleet: Fleet) -> Iterator[Service]:
    hosts = online_hosts(register, fleet)
    stack = services.create_service(
        name=f"shop-{uuid.uuid4().hex[:6]}",
        actor=None,
        hosts=hosts,
        kind="stack",
        first_revision={"compose_text": compose(fleet, "v1"), "note": "web v1"},
    )
    yield stack
    for name in NAMES:
        for container in on_host(fleet, name, stack.name):
            fleet[name].docker("rm", "-f", container["id"], check=False)
        for kind in ("network", "volume"):
            for item in owned(fleet, name, kind, stack.name):
                fleet[name].docker(kind, "rm", item, check=False)


def test_a_stack_rolls_out_keeps_its_data_and_rolls_back(shop: Service, fleet: Fleet) -> None:
    addresses = {name: fleet[name].address for name in NAMES}
    r1 = shop.revisions.get(number=1)
    rollout = finished(services.request_deploy(shop, r1, actor=None, batch_size=1), timeout=300)
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert sorted(rollout.hosts.values_list("batch", flat=True)) == [0, 1, 2]
    assert rollout.operation.action == "service.deploy"
    assert_runs(fleet, shop.name, 1)
    for name, address in addresses.items():
        assert "demo web v1" in page(address)
        # The compose services reach each other by name over the stack's network.
        (cache,) = [c for c in on_host(fleet, name, shop.name) if c["component"] == "cache"]
        inside = fleet[name].docker("exec", cache["id"], "wget", "-qO-", "http://web/").stdout
        assert "demo web v1" in inside
        # Data written under r1 into the named volume.
        container = web_container(fleet, name, shop.name)
        fleet[name].docker("exec", container, "sh", "-c", f"echo {name}-r1 > /data/note")

    r2 = services.add_revision(shop, compose_text=compose(fleet, "v2"), actor=None, note="web v2")
    rollout = finished(services.request_deploy(shop, r2, actor=None, batch_size=1), timeout=300)
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert_runs(fleet, shop.name, 2)
    for name, address in addresses.items():
        assert "demo web v2" in page(address)
        assert note(fleet, name, shop.name) == f"{name}-r1"

    # v3's health check always fails: the first host fails, the rollout stops and every
    # host is back on r2, with nothing of r3 left anywhere.
    r3 = services.add_revision(shop, compose_text=compose(fleet, "v3"), actor=None, note="web v3")
    rollout = finished(
        services.request_deploy(shop, r3, actor=None, batch_size=1, max_failures=1), timeout=300
    )
    assert rollout.status == RolloutStatus.ROLLED_BACK, rollout.reason
    assert "failed" in rollout.reason
    shop.refresh_from_db()
    assert shop.current_revision == r2
    assert_runs(fleet, shop.name, 2)
    assert all("demo web v2" in page(address) for address in addresses.values())

    # One-click rollback to r1, by the digests its first deploy pinned: the data is
    # still there.
    r1.refresh_from_db()
    assert sorted(r1.digests) == ["cache", "web"]
    assert r1.digests["web"].startswith(f"{fleet.registry}/demo/web@sha256:")
    rollout = finished(services.request_rollback(shop, r1, actor=None), timeout=300)
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert_runs(fleet, shop.name, 1)
    for name in NAMES:
        image = fleet[name].docker(
            "inspect", "-f", "{{.Config.Image}}", web_container(fleet, name, shop.name)
        )
        assert image.stdout.strip() == r1.digests["web"]  # the pinned digest, not the tag
    for name, address in addresses.items():
        assert "demo web v1" in page(address)
        assert note(fleet, name, shop.name) == f"{name}-r1"


def test_retiring_a_stack_removes_its_containers_and_networks_and_keeps_its_volumes(
    shop: Service, fleet: Fleet
) -> None:
    r1 = shop.revisions.get(number=1)
    assert finished(services.request_deploy(shop, r1, actor=None), timeout=300).status == (
        RolloutStatus.SUCCEEDED
    )
    operation = services.request_retire(shop, actor=None)
    wait_for(
        lambda: not Service.objects.filter(pk=shop.pk).exists(),
        timeout=120,
        what=f"{shop.name} retired (operation #{operation.pk})",
    )
    for name in NAMES:
        assert on_host(fleet, name, shop.name) == []
        assert owned(fleet, name, "network", shop.name) == []
        assert owned(fleet, name, "volume", shop.name) == [f"{shop.name}_data"]


def test_a_host_cut_off_mid_rollout_converges_later_to_one_set_of_containers(
    shop: Service, fleet: Fleet, beat: Any
) -> None:
    r1 = shop.revisions.get(number=1)
    assert finished(services.request_deploy(shop, r1, actor=None), timeout=300).status == (
        RolloutStatus.SUCCEEDED
    )
    r2 = services.add_revision(shop, compose_text=compose(fleet, "v2"), actor=None)
    run_testbed("link", "down", "h3")
    try:
        rollout = finished(
            services.request_deploy(shop, r2, actor=None, batch_size=1, max_failures=2),
            timeout=300,
        )
    finally:
        run_testbed("link", "up", "h3")
    assert rollout.status == RolloutStatus.PARTIAL, rollout.reason
    steps = {step.host.name: step.step for step in rollout.hosts.select_related("host")}
    assert steps == {"h1": "done", "h2": "done", "h3": "failed"}

    h3 = Host.objects.get(name="h3")
    refresh_host.delay(h3.pk)  # beat keeps refreshing too
    converge = wait_for(
        lambda: Rollout.objects.filter(
            service=shop, kind="converge", hosts__host=h3, status=RolloutStatus.SUCCEEDED
        ).first(),
        timeout=180,
        what="the converge rollout on h3 to succeed",
    )
    assert converge.revision == r2
    assert_runs(fleet, shop.name, 2)
    assert "demo web v2" in page(fleet["h3"].address)
