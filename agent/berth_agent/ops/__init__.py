"""The op table: op name -> ``func(ctx, args) -> result``."""

from __future__ import annotations

from typing import Any, Callable

from berth_agent.ops import containers, events, host, images, service

OPS: dict[str, Callable[[Any, dict], Any]] = {
    "ping": host.ping,
    "host.facts": host.facts,
    "containers.list": containers.list_containers,
    "containers.inspect": containers.inspect,
    "containers.start": containers.start,
    "containers.stop": containers.stop,
    "containers.restart": containers.restart,
    "containers.kill": containers.kill,
    "containers.remove": containers.remove,
    "containers.logs": containers.logs,
    "containers.stats": containers.stats,
    "containers.run": containers.run,
    "images.list": images.list_images,
    "images.inspect": images.inspect,
    "images.pull": images.pull,
    "images.remove": images.remove,
    "images.prune": images.prune,
    "events.stream": events.stream,
    "service.deploy": service.deploy,
    "service.list": service.list_services,
    "service.remove": service.remove,
}
