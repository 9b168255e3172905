"""events.stream: container and image events as progress lines, until cancelled."""

from __future__ import annotations

import time

from tests.agent.helpers import Agent


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
