"""The test bed's network: host namespaces, veth links, the registry's interface."""

from __future__ import annotations

import re

from .common import (
    DUMMY_LINK,
    LINK_PREFIX,
    NETNS_PREFIX,
    REGISTRY_IP,
    SCALE_LINK_PREFIX,
    SCALE_NETNS_PREFIX,
    TESTBED_NET,
    TestbedError,
    run,
)
from .hosts import Host


def existing_netns() -> list[str]:
    names = [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line]
    pattern = rf"(?:{NETNS_PREFIX}|{SCALE_NETNS_PREFIX})\d+"
    return [name for name in names if re.fullmatch(pattern, name)]


def existing_links() -> list[str]:
    names = []
    for line in run(["ip", "-o", "link", "show"]).splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == DUMMY_LINK or re.fullmatch(rf"(?:{LINK_PREFIX}|{SCALE_LINK_PREFIX})\d+", name):
            names.append(name)
    return names


def create_dummy_link() -> str:
    """Create the interface that carries the registry's address; return its kind.

    A dummy interface where the kernel has the driver, else an empty bridge
    (Firecracker's kernel has no dummy driver; Docker needs bridges anyway).
    """
    for kind in ("dummy", "bridge"):
        try:
            run(["ip", "link", "add", DUMMY_LINK, "type", kind])
            break
        except TestbedError:
            if kind == "bridge":
                raise
    run(["ip", "addr", "add", f"{REGISTRY_IP}/32", "dev", DUMMY_LINK])
    run(["ip", "link", "set", DUMMY_LINK, "up"])
    run(["ip", "route", "replace", "unreachable", TESTBED_NET])
    return kind


def create_host_network(host: Host) -> None:
    ns = ["ip", "-n", host.netns]
    run(["ip", "netns", "add", host.netns])
    run(["ip", "link", "add", host.link, "type", "veth",
         "peer", "name", "eth0", "netns", host.netns])  # fmt: skip
    run(["ip", "addr", "add", f"{host.gateway}/30", "dev", host.link])
    run(["ip", "link", "set", host.link, "up"])
    run([*ns, "addr", "add", f"{host.address}/30", "dev", "eth0"])
    run([*ns, "link", "set", "eth0", "up"])
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "route", "add", f"{REGISTRY_IP}/32", "via", host.gateway])
