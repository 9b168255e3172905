"""Volume ops against the real engine: list (with the containers that mount each, sizes
only when asked), create (validated), remove (refused while in use, naming the users) and
prune (a dry run lists what would go and removes nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.helpers import Agent, docker_cli, unique


@pytest.fixture
def volume(docker_host: str) -> Iterator[str]:
    """A name for a test volume, removed (with the containers that use it) afterwards."""
    name = unique("bt-vol")
    yield name
    users = docker_cli(docker_host, "ps", "-aq", "--filter", f"volume={name}", check=False)
    for container in users.stdout.decode().split():
        docker_cli(docker_host, "rm", "-f", container, check=False)
    docker_cli(docker_host, "volume", "rm", name, check=False)


def _listed(agent: Agent, name: str, **args: object) -> dict:
    [found] = [v for v in agent.ok("volume.list", args) if v["name"] == name]
    return found


def test_create_with_labels_is_listed_unused_and_unmeasured(agent: Agent, volume: str) -> None:
    made = agent.ok("volume.create", {"name": volume, "labels": {"team": "berth-tests"}})
    assert made["name"] == volume and made["driver"] == "local"
    listed = _listed(agent, volume)
    assert listed["labels"] == {"team": "berth-tests"}
    assert listed["scope"] == "local"
    assert listed["containers"] == []
    assert "size" not in listed  # no `system df` unless asked
    again = agent.call("volume.create", {"name": volume})
    assert again.code == "conflict" and volume in again.error["message"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ({}, "args.name"),
        ({"name": "bad name"}, "args.name"),
        ({"name": "-dash"}, "args.name"),
        ({"name": 7}, "args.name"),
        ({"name": "v1", "driver": "nfs"}, "args.driver"),
        ({"name": "v1", "labels": {"a": 1}}, "args.labels"),
        ({"name": "v1", "driver_opts": {"o": "bind", "device": "/etc"}}, "args.driver_opts"),
    ],
)
def test_create_refuses_bad_arguments_naming_them(agent: Agent, args: dict, names: str) -> None:
    reply = agent.call("volume.create", args)
    assert reply.code == "invalid_argument"
    assert names in reply.error["message"]


def test_sizes_are_measured_when_asked(agent: Agent, volume: str, make_container) -> None:
    agent.ok("volume.create", {"name": volume})
    make_container(
        "sh", "-c", "head -c 300000 /dev/zero > /data/blob", start=True,
        opts=("-v", f"{volume}:/data"),
    )  # fmt: skip
    measured = _listed(agent, volume, sizes=True)
    assert measured["size"] >= 300000
    assert agent.call("volume.list", {"sizes": "yes"}).code == "invalid_argument"


def test_remove_is_refused_while_a_container_uses_it_naming_it(
    agent: Agent, volume: str, make_container
) -> None:
    agent.ok("volume.create", {"name": volume})
    user = make_container(start=False, opts=("-v", f"{volume}:/data"))
    assert [c["name"] for c in _listed(agent, volume)["containers"]] == [user]

    refused = agent.call("volume.remove", {"name": volume})
    assert refused.code == "conflict"
    assert user in refused.error["message"]

    agent.ok("container.remove", {"id": user, "force": True})
    assert agent.ok("volume.remove", {"name": volume}) == {"name": volume}
    assert volume not in {v["name"] for v in agent.ok("volume.list", {})}
    assert agent.call("volume.remove", {"name": volume}).code == "not_found"


def test_prune_dry_run_lists_unused_volumes_and_removes_nothing(
    agent: Agent, volume: str, docker_host: str, make_container
) -> None:
    busy = volume + "-busy"
    agent.ok("volume.create", {"name": volume})
    agent.ok("volume.create", {"name": busy})
    make_container(start=False, opts=("-v", f"{busy}:/data"))
    try:
        # A named volume goes only with all: Docker's own prune keeps them by default.
        assert volume not in agent.ok("volume.prune", {"dry_run": True})["volumes"]
        dry = agent.ok("volume.prune", {"dry_run": True, "all": True})
        assert dry["dry_run"] is True and dry["deleted"] == []
        assert volume in dry["volumes"] and busy not in dry["volumes"]
        names = {v["name"] for v in agent.ok("volume.list", {})}
        assert {volume, busy} <= names

        done = agent.ok("volume.prune", {"all": True})
        assert volume in done["deleted"] and busy not in done["deleted"]
        names = {v["name"] for v in agent.ok("volume.list", {})}
        assert volume not in names and busy in names
    finally:
        users = docker_cli(docker_host, "ps", "-aq", "--filter", f"volume={busy}", check=False)
        for container in users.stdout.decode().split():
            docker_cli(docker_host, "rm", "-f", container, check=False)
        docker_cli(docker_host, "volume", "rm", busy, check=False)


def test_prune_refuses_unknown_arguments(agent: Agent) -> None:
    reply = agent.call("volume.prune", {"dry_run": "yes"})
    assert reply.code == "invalid_argument" and "args.dry_run" in reply.error["message"]
    reply = agent.call("volume.prune", {"force": True})
    assert reply.code == "invalid_argument" and "args.force" in reply.error["message"]
