"""ping, host.facts, container.list and image.list against the real engine."""

from __future__ import annotations

import json
import time

from tests.agent.helpers import TEST_LABEL, Agent, docker_cli


def test_ping_answers_pong(agent: Agent) -> None:
    assert agent.ok("ping") == {"pong": True}


def test_host_facts_describe_the_engine_and_the_host(agent: Agent, make_container) -> None:
    make_container()
    facts = agent.ok("host.facts")
    assert facts["docker_version"] == agent.hello["hello"]["docker"]["version"]
    assert facts["api_version"]
    assert facts["hostname"] and facts["os"] and facts["kernel"] and facts["arch"]
    assert facts["cpus"] >= 1 and facts["mem_total"] > 0
    assert facts["docker_root_dir"].startswith("/")
    assert facts["disk_total"] >= facts["disk_free"] > 0
    c = facts["containers"]
    assert c["total"] >= c["running"] >= 1
    assert set(c) == {"total", "running", "stopped", "paused", "unhealthy"}
    assert facts["images"] >= 1


def test_containers_list_reflects_a_container_created_with_the_docker_cli(
    agent: Agent, make_container, docker_host: str, test_image: str
) -> None:
    name = make_container(opts=("--label", "role=web"))
    full_id = docker_cli(docker_host, "inspect", "-f", "{{.Id}}", name).stdout.decode().strip()
    items = {c["name"]: c for c in agent.ok("container.list")}
    c = items[name]
    assert c["id"] == full_id
    assert c["image"] == test_image
    assert c["image_id"].startswith("sha256:")
    assert c["state"] == "running"
    assert c["status"].startswith("Up")
    assert c["health"] is None
    assert c["labels"] == {TEST_LABEL: "1", "role": "web"}
    assert isinstance(c["created"], int) and abs(c["created"] - time.time()) < 600
    assert c["command"].startswith("sh -c")
    assert isinstance(c["ports"], list)


def test_containers_list_without_all_leaves_out_stopped_containers(
    agent: Agent, make_container
) -> None:
    stopped = make_container(start=False)
    running = make_container()
    names = {c["name"] for c in agent.ok("container.list", {"all": False})}
    assert running in names and stopped not in names
    everything = {c["name"]: c for c in agent.ok("container.list")}
    assert everything[stopped]["state"] == "created"


def test_containers_list_reports_health(agent: Agent, make_container) -> None:
    name = make_container(opts=("--health-cmd", "true", "--health-interval", "1s"))
    deadline = time.monotonic() + 20
    health = None
    while time.monotonic() < deadline:
        health = {c["name"]: c for c in agent.ok("container.list")}[name]["health"]
        if health == "healthy":
            break
        time.sleep(0.3)
    assert health == "healthy"


def test_containers_list_rejects_a_non_boolean_all(agent: Agent) -> None:
    reply = agent.call("container.list", {"all": "yes"})
    assert reply.code == "invalid_argument" and "all" in reply.error["message"]


def test_images_list_includes_the_test_image(
    agent: Agent, docker_host: str, test_image: str
) -> None:
    image_id = docker_cli(docker_host, "image", "inspect", "-f", "{{.Id}}", test_image)
    images = {i["id"]: i for i in agent.ok("image.list")}
    img = images[image_id.stdout.decode().strip()]
    assert test_image in img["tags"]
    assert img["size"] > 0 and isinstance(img["created"], int)
    assert isinstance(img["digests"], list)
    json.dumps(img)
