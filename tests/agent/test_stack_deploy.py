"""stack.deploy / stack.remove against a real dockerd and the test fleet's registry.

A two-component stack: ``cache`` (demo/sleeper) and ``web`` (demo/web, its own health
check; v3's always fails) that depends on it and mounts the stack's named volume. The
agent runs inside the engine's network namespace, as on a real host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent import test_service_deploy as service_tests
from tests.agent.helpers import TEST_LABEL, Agent, Reply, docker_cli, unique

DEPLOY_TIMEOUT = service_tests.DEPLOY_TIMEOUT
steps = service_tests.steps
# service.deploy's fixtures: an agent in the engine's network namespace, the demo images.
agent = service_tests.agent
fleet_host = service_tests.fleet_host
web = service_tests.web


@pytest.fixture
def stack(docker_host: str) -> Iterator[str]:
    """A unique stack name; its containers, networks and volumes are removed at the end."""
    name = unique("bt-stk")
    yield name
    label = f"label=berth.stack={name}"
    ids = docker_cli(docker_host, "ps", "-aq", "--filter", label).stdout.decode().split()
    if ids:
        docker_cli(docker_host, "rm", "-f", *ids, check=False)
    for kind in ("network", "volume"):
        names = docker_cli(docker_host, kind, "ls", "-q", "--filter", label)
        found = names.stdout.decode().split()
        if found:
            docker_cli(docker_host, kind, "rm", *found, check=False)


def plan(stack: str, web: str, tag: str = "v1", **web_extra: Any) -> dict[str, Any]:
    """stack.deploy's arguments, as the server makes them from the compose file."""
    registry = web.rsplit("/demo/", 1)[0]
    default = f"{stack}_default"
    return {
        "stack": stack,
        "networks": {default: {"internal": False, "labels": {}}},
        "volumes": {f"{stack}_data": {"labels": {}}},
        "components": [
            {
                "name": "cache",
                "spec": {"image": f"{registry}/demo/sleeper:v1", "labels": {TEST_LABEL: "1"}},
                "networks": {default: ["cache"]},
                "depends_on": {},
                "replicas": 1,
            },
            {
                "name": "web",
                "spec": {
                    "image": f"{web}:{tag}",
                    "labels": {TEST_LABEL: "1"},
                    "volumes": [{"source": f"{stack}_data", "target": "/data"}],
                    **web_extra,
                },
                "networks": {default: ["web", "www"]},
                "depends_on": {"cache": "service_started"},
                "replicas": 1,
            },
        ],
    }


def deploy(agent: Agent, stack: str, revision: int, args: dict[str, Any]) -> Reply:
    return agent.call("stack.deploy", {**args, "revision": revision}, timeout=DEPLOY_TIMEOUT)


def containers(docker_host: str, stack: str) -> list[dict[str, Any]]:
    label = f"label=berth.stack={stack}"
    ids = docker_cli(docker_host, "ps", "-aq", "--filter", label).stdout.decode().split()
    return json.loads(docker_cli(docker_host, "inspect", *ids).stdout) if ids else []


def by_component(docker_host: str, stack: str) -> dict[str, dict[str, Any]]:
    found = containers(docker_host, stack)
    out = {c["Config"]["Labels"]["berth.component"]: c for c in found}
    assert len(out) == len(found), [c["Name"] for c in found]
    return out


def exec_in(docker_host: str, container: str, *command: str) -> str:
    return docker_cli(docker_host, "exec", container, *command).stdout.decode()


def names(docker_host: str, kind: str, stack: str) -> list[str]:
    out = docker_cli(
        docker_host, kind, "ls", "--filter", f"label=berth.stack={stack}", "--format",
        "{{.Name}}",
    )  # fmt: skip
    return sorted(out.stdout.decode().split())


def test_a_stack_comes_up_in_start_order_on_its_own_network_with_its_volume(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    reply = deploy(agent, stack, 1, plan(stack, web))
    assert reply.ok, reply.raw
    result = reply.result
    assert [c["component"] for c in result["containers"]] == ["cache", "web"]
    assert result["health"] == "running"  # cache has no health check of its own
    assert result["digests"]["web"].split("@")[1].startswith("sha256:")
    assert steps(reply)[0] == "pulling"
    assert {"creating", "starting", "health-checking", "switching"} <= set(steps(reply))
    up = by_component(docker_host, stack)
    for component, container in up.items():
        labels = container["Config"]["Labels"]
        assert (labels["berth.stack"], labels["berth.revision"]) == (stack, "1")
        assert labels["berth.component"] == component
        assert container["State"]["Running"]
        assert list(container["NetworkSettings"]["Networks"]) == [f"{stack}_default"]
    assert up["web"]["State"]["Health"]["Status"] == "healthy"
    assert names(docker_host, "network", stack) == [f"{stack}_default"]
    assert names(docker_host, "volume", stack) == [f"{stack}_data"]
    # The components find each other by compose service name (and alias) on the network.
    for name in ("web", "www"):
        page = exec_in(docker_host, up["cache"]["Id"], "wget", "-qO-", f"http://{name}/")
        assert "v1" in page


def test_a_new_revision_replaces_the_containers_and_keeps_the_volumes_data(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    assert deploy(agent, stack, 1, plan(stack, web)).ok
    first = by_component(docker_host, stack)
    exec_in(docker_host, first["web"]["Id"], "sh", "-c", "echo kept > /data/note")
    reply = deploy(agent, stack, 2, plan(stack, web, "v2"))
    assert reply.ok, reply.raw
    assert sorted(reply.result["replaced"]) == sorted(c["Id"] for c in first.values())
    second = by_component(docker_host, stack)
    assert {c["Config"]["Labels"]["berth.revision"] for c in second.values()} == {"2"}
    assert second["web"]["Config"]["Image"].endswith(":v2")
    assert exec_in(docker_host, second["web"]["Id"], "cat", "/data/note").strip() == "kept"


def test_a_failing_health_gate_leaves_the_previous_revision_running(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    assert deploy(agent, stack, 2, plan(stack, web, "v2")).ok
    before = {k: c["Id"] for k, c in by_component(docker_host, stack).items()}
    reply = deploy(agent, stack, 3, plan(stack, web, "v3"))
    assert not reply.ok
    assert reply.code == "health_check_failed", reply.raw
    assert "rolling-back" in steps(reply)
    after = by_component(docker_host, stack)
    assert {k: c["Id"] for k, c in after.items()} == before
    assert all(c["State"]["Running"] for c in after.values())
    assert names(docker_host, "network", stack) == [f"{stack}_default"]


def test_a_first_deploy_that_fails_leaves_nothing_behind(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    reply = deploy(agent, stack, 1, plan(stack, web, "v3"))
    assert reply.code == "health_check_failed", reply.raw
    assert containers(docker_host, stack) == []
    assert names(docker_host, "network", stack) == []
    assert names(docker_host, "volume", stack) == []


def test_networks_the_new_revision_does_not_use_are_removed(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    args = plan(stack, web)
    args["networks"][f"{stack}_back"] = {"internal": True, "labels": {}}
    args["components"][0]["networks"][f"{stack}_back"] = ["cache"]
    assert deploy(agent, stack, 1, args).ok
    cache = by_component(docker_host, stack)["cache"]
    assert sorted(cache["NetworkSettings"]["Networks"]) == [f"{stack}_back", f"{stack}_default"]
    assert deploy(agent, stack, 2, plan(stack, web)).ok
    assert names(docker_host, "network", stack) == [f"{stack}_default"]


def test_remove_takes_containers_and_networks_and_keeps_the_volumes(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    assert deploy(agent, stack, 1, plan(stack, web)).ok
    reply = agent.call("stack.remove", {"stack": stack}, timeout=DEPLOY_TIMEOUT)
    assert reply.ok, reply.raw
    assert len(reply.result["removed"]) == 2
    assert containers(docker_host, stack) == []
    assert names(docker_host, "network", stack) == []
    assert names(docker_host, "volume", stack) == [f"{stack}_data"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, s: a["components"][1]["spec"].update(volumes=[{"source": "x", "target": "/d"}]),
         "args.components[1].spec.volumes[0].source"),
        (lambda a, s: a["components"][1]["spec"].update(network_mode="host"),
         "args.components[1].spec.network_mode"),
        (lambda a, s: a["components"][0].update(depends_on={"web": "service_started"}),
         "args.components[0].depends_on.web"),
        (lambda a, s: a["components"][1]["spec"].update(labels={"berth.stack": "x"}),
         "args.components[1].spec.labels"),
        (lambda a, s: a["networks"].update(elsewhere={"internal": False, "labels": {}}),
         "args.networks.elsewhere"),
        (lambda a, s: a["components"][1].update(replicas=0), "args.components[1].replicas"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_before_anything_changes(
    agent: Agent, stack: str, web: str, docker_host: str, change: Any, message: str
) -> None:
    args = plan(stack, web)
    change(args, stack)
    reply = deploy(agent, stack, 1, args)
    assert reply.code == "invalid_argument", reply.raw
    assert message in reply.error["message"]
    assert containers(docker_host, stack) == []
    assert names(docker_host, "network", stack) == []


def test_the_hosts_policy_is_enforced_on_each_component(
    agent: Agent, stack: str, web: str, docker_host: str
) -> None:
    args = plan(stack, web)
    args["components"][1]["spec"]["volumes"].append({"source": "/etc", "target": "/host-etc"})
    reply = deploy(agent, stack, 1, args)
    assert reply.code == "policy_denied", reply.raw
    assert "args.components[1].spec.volumes[1].source" in reply.error["message"]
    assert containers(docker_host, stack) == []


@pytest.mark.parametrize("fixed_port", [False, True], ids=["start-first", "stop-first"])
def test_a_cancel_during_a_health_gate_puts_the_previous_revision_back(
    agent: Agent, stack: str, web: str, docker_host: str, fixed_port: bool
) -> None:
    ports = {"ports": [{"private": 80, "public": 18990}]} if fixed_port else {}
    assert deploy(agent, stack, 1, plan(stack, web, **ports)).ok
    before = sorted((c["Id"], c["State"]["Status"]) for c in containers(docker_host, stack))
    # web's health check runs first after 300 s: it stays "starting" until cancelled.
    slow = {"healthcheck": {"test": ["CMD", "true"], "interval_s": 300}}
    req = agent.start("stack.deploy", {**plan(stack, web, "v2", **ports, **slow), "revision": 2})
    service_tests.wait_for_step(agent, req, "health-checking")  # cache's gate
    service_tests.wait_for_step(agent, req, "health-checking")  # web's
    assert agent.ok("cancel", {"target": req}) == {"cancelled": True}
    reply = agent.wait(req, timeout=60)
    assert reply.code == "cancelled", reply
    assert "back to its previous state" in reply.error["message"]
    after = sorted((c["Id"], c["State"]["Status"]) for c in containers(docker_host, stack))
    assert after == before
