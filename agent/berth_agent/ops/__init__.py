"""The op table: op name -> ``func(ctx, args) -> result``."""

from __future__ import annotations

from typing import Any, Callable

from berth_agent.ops import containers, events, host, images, networks, service, volumes

OPS: dict[str, Callable[[Any, dict], Any]] = {
    "ping": host.ping,
    "host.facts": host.facts,
    "container.list": containers.list_containers,
    "container.inspect": containers.inspect,
    "container.start": containers.start,
    "container.stop": containers.stop,
    "container.restart": containers.restart,
    "container.kill": containers.kill,
    "container.remove": containers.remove,
    "container.logs": containers.logs,
    "container.stats": containers.stats,
    "container.run": containers.run,
    "image.list": images.list_images,
    "image.inspect": images.inspect,
    "image.pull": images.pull,
    "image.remove": images.remove,
    "image.prune": images.prune,
    "network.list": networks.list_networks,
    "network.create": networks.create,
    "network.remove": networks.remove,
    "network.prune": networks.prune,
    "network.connect": networks.connect,
    "network.disconnect": networks.disconnect,
    "volume.list": volumes.list_volumes,
    "volume.create": volumes.create,
    "volume.remove": volumes.remove,
    "volume.prune": volumes.prune,
    "events.stream": events.stream,
    "service.deploy": service.deploy,
    "service.list": service.list_services,
    "service.remove": service.remove,
    "stack.deploy": service.deploy_stack,
    "stack.remove": service.remove_stack,
}
