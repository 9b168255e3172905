"""events.stream: engine events for the objects Berth keeps (containers, images, networks,
volumes), as progress lines until cancelled."""

from __future__ import annotations

from typing import Any

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.validation import check_keys, opt_int


def stream(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"since"})
    since = opt_int(args, "since", None, 0, 2**40)
    api = docker_client.api()
    # Every type a refresh reads (the server's inventories): a change to any of them made
    # outside Berth is worth a refresh.
    types = ["container", "image", "network", "volume"]
    events = api.events(since=since, filters={"type": types}, decode=True)
    ctx.on_cancel(events.close)
    count = 0
    try:
        for ev in events:
            if ctx.cancelled:
                break
            actor = ev.get("Actor") or {}
            attrs = actor.get("Attributes") or {}
            ctx.progress(
                {
                    "type": ev.get("Type"),
                    "action": ev.get("Action"),
                    "id": actor.get("ID"),
                    "name": attrs.get("name"),
                    "time": ev.get("time"),
                }
            )
            count += 1
    except Exception:
        if not ctx.cancelled:
            raise
    ctx.check_cancelled()
    return {"events": count, "ended": "engine closed the stream"}
