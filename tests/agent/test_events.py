"""events.stream: container, image, network and volume events as progress lines, until
cancelled."""

from __future__ import annotations

import time
import uuid

from tests.agent.helpers import Agent, docker_cli


def test_events_stream_reports_container_events_until_cancelled(
    agent: Agent, make_container
) -> None:
    # "since" makes the engine replay from now on, so an event that happens while the
    # agent is still opening the stream is not missed.
    req = agent.start("events.stream", {"since": int(time.time())})
    name = make_container(start=False)
    while True:
        msg = agent.next_message(req, timeout=10)
        event = msg["progress"]
        if event["name"] == name:
            break
    assert event["type"] == "container" and event["action"] == "create"
    assert len(event["id"]) == 64 and isinstance(event["time"], int)
    assert agent.ok("cancel", {"target": req}) == {"cancelled": True}
    assert agent.wait(req, timeout=10).code == "cancelled"


def test_events_stream_since_replays_past_events(agent: Agent, make_container) -> None:
    since = int(time.time()) - 1
    name = make_container(start=False)
    req = agent.start("events.stream", {"since": since})
    names = set()
    deadline = time.monotonic() + 10
    while name not in names and time.monotonic() < deadline:
        names.add(agent.next_message(req, timeout=10)["progress"]["name"])
    assert name in names
    agent.ok("cancel", {"target": req})
    assert agent.wait(req).code == "cancelled"


def test_events_stream_reports_volume_and_network_events(agent: Agent, docker_host: str) -> None:
    """A refresh reads volumes and networks too, so their changes are worth a refresh."""
    req = agent.start("events.stream", {"since": int(time.time())})
    name = f"berth-test-ev-{uuid.uuid4().hex[:8]}"
    docker_cli(docker_host, "volume", "create", name)
    docker_cli(docker_host, "network", "create", name)
    try:
        seen: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 10
        while not {("volume", "create"), ("network", "create")} <= seen:
            assert time.monotonic() < deadline, f"saw only {seen}"
            event = agent.next_message(req, timeout=10)["progress"]
            if name in (event["id"], event["name"]):
                seen.add((event["type"], event["action"]))
    finally:
        docker_cli(docker_host, "volume", "rm", name, check=False)
        docker_cli(docker_host, "network", "rm", name, check=False)
    agent.ok("cancel", {"target": req})
    assert agent.wait(req).code == "cancelled"
