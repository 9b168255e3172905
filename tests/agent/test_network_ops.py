"""Network ops against the real engine: list, create (validated), connect, disconnect,
remove (refused while containers are attached, never Docker's own) and prune."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.helpers import Agent, docker_cli, unique


@pytest.fixture
def network(docker_host: str) -> Iterator[str]:
    """A name for a test network, removed (with anything left on it) afterwards."""
    name = unique("bt-net")
    yield name
    attached = docker_cli(
        docker_host, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", name,
        check=False,
    )  # fmt: skip
    for container in attached.stdout.decode().split():
        docker_cli(docker_host, "rm", "-f", container, check=False)
    docker_cli(docker_host, "network", "rm", name, check=False)


def _listed(agent: Agent, name: str) -> dict:
    [found] = [n for n in agent.ok("network.list", {}) if n["name"] == name]
    return found


def test_create_with_ipam_labels_and_flags_is_listed_as_made(agent: Agent, network: str) -> None:
    made = agent.ok(
        "network.create",
        {
            "name": network,
            "driver": "bridge",
            "subnet": "10.231.7.0/24",
            "gateway": "10.231.7.1",
            "ip_range": "10.231.7.128/25",
            "internal": True,
            "attachable": True,
            "labels": {"team": "berth-tests"},
        },
    )
    listed = _listed(agent, network)
    assert listed["id"] == made["id"]
    assert listed["driver"] == "bridge"
    assert listed["scope"] == "local"
    assert listed["internal"] is True
    assert listed["attachable"] is True
    assert listed["labels"] == {"team": "berth-tests"}
    assert listed["subnets"] == [
        {"subnet": "10.231.7.0/24", "gateway": "10.231.7.1", "ip_range": "10.231.7.128/25"}
    ]
    assert listed["containers"] == []
    again = agent.call("network.create", {"name": network})
    assert again.code == "conflict" and network in again.error["message"]


def test_docker_own_networks_are_listed(agent: Agent) -> None:
    names = {n["name"] for n in agent.ok("network.list", {})}
    assert {"bridge", "host", "none"} <= names


def test_list_names_the_attached_containers_as_an_inspect_does(
    agent: Agent, docker_host: str, network: str, make_container
) -> None:
    """The list reads attachments from the running containers, not from an inspect of
    each network: it must name the same containers, and no stopped one."""
    agent.ok("network.create", {"name": network})
    running = make_container(opts=("--network", network))
    stopped = make_container(start=False, opts=("--network", network))
    on_bridge = make_container()
    listed = {n["name"]: n for n in agent.ok("network.list", {})}
    for name in (network, "bridge", "host", "none"):
        inspected = (
            docker_cli(
                docker_host,
                "network",
                "inspect",
                "-f",
                "{{range .Containers}}{{.Name}} {{end}}",
                name,
            )
            .stdout.decode()
            .split()
        )
        assert sorted(c["name"] for c in listed[name]["containers"]) == sorted(inspected), name
    assert [c["name"] for c in listed[network]["containers"]] == [running]
    assert on_bridge in {c["name"] for c in listed["bridge"]["containers"]}
    assert stopped not in {c["name"] for n in listed.values() for c in n["containers"]}


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ({"name": "bad name"}, "args.name"),
        ({"name": "bridge"}, "args.name"),
        ({"name": "n1", "driver": "weave"}, "args.driver"),
        ({"name": "n1", "subnet": "10.0.0.1/24"}, "args.subnet"),
        ({"name": "n1", "subnet": "not-a-net"}, "args.subnet"),
        ({"name": "n1", "gateway": "10.0.0.1"}, "args.subnet"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "args.gateway"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "ip_range": "10.0.0.0/16"}, "args.ip_range"),
        ({"name": "n1", "driver": "macvlan"}, "args.options.parent"),
        ({"name": "n1", "driver": "macvlan", "options": {"parent": "eth0; rm"}}, "args.options"),
        ({"name": "n1", "options": {"com.docker.network.bridge.name": "x"}}, "args.options"),
        ({"name": "n1", "internal": "yes"}, "args.internal"),
        ({"name": "n1", "extra": 1}, "args.extra"),
    ],
)
def test_create_refuses_bad_arguments_naming_them(agent: Agent, args: dict, names: str) -> None:
    reply = agent.call("network.create", args)
    assert reply.code == "invalid_argument"
    assert names in reply.error["message"]


def test_connect_disconnect_and_remove_refused_while_attached(
    agent: Agent, network: str, make_container
) -> None:
    agent.ok("network.create", {"name": network})
    container = make_container()
    joined = agent.ok("network.connect", {"id": network, "container": container, "aliases": ["db"]})
    assert [c["name"] for c in joined["containers"]] == [container]
    assert _listed(agent, network)["containers"][0]["name"] == container

    refused = agent.call("network.remove", {"id": network})
    assert refused.code == "conflict"
    assert container in refused.error["message"]

    left = agent.ok("network.disconnect", {"id": network, "container": container})
    assert left["containers"] == []
    removed = agent.ok("network.remove", {"id": network})
    assert removed["name"] == network
    assert network not in {n["name"] for n in agent.ok("network.list", {})}
    assert agent.call("network.remove", {"id": network}).code == "not_found"


def test_connect_of_a_missing_container_is_not_found(agent: Agent, network: str) -> None:
    agent.ok("network.create", {"name": network})
    assert agent.call("network.connect", {"id": network, "container": unique()}).code == (
        "not_found"
    )
    bad = agent.call("network.connect", {"id": network, "container": "x", "aliases": ["a b"]})
    assert bad.code == "invalid_argument" and "args.aliases" in bad.error["message"]


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_docker_own_networks_are_never_removed(agent: Agent, name: str) -> None:
    reply = agent.call("network.remove", {"id": name})
    assert reply.code == "conflict"
    assert "predefined" in reply.error["message"]


def test_prune_removes_unused_networks_and_names_them(
    agent: Agent, network: str, docker_host: str, make_container
) -> None:
    agent.ok("network.create", {"name": network})
    busy = network + "-busy"
    agent.ok("network.create", {"name": busy})
    container = make_container()
    try:
        agent.ok("network.connect", {"id": busy, "container": container})
        result = agent.ok("network.prune", {})
        assert network in result["deleted"]
        assert busy not in result["deleted"]
        names = {n["name"] for n in agent.ok("network.list", {})}
        assert network not in names and busy in names and "bridge" in names
    finally:
        docker_cli(docker_host, "rm", "-f", container, check=False)
        docker_cli(docker_host, "network", "rm", busy, check=False)
