"""Checks of a network's spec, the same ones the agent applies on the host
(agent/berth_agent/ops/networks.py), so bad input is refused with a 400 naming the
field before anything is queued."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from berth.invalid import InvalidRequest

NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
CONTAINER_REF_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
ALIAS_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
PARENT_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,14}$")
DRIVERS = ("bridge", "macvlan", "ipvlan", "overlay")
DRIVER_OPTIONS: dict[str, dict[str, re.Pattern[str]]] = {
    "macvlan": {
        "parent": PARENT_RE,
        "macvlan_mode": re.compile(r"^(bridge|vepa|passthru|private)$"),
    },
    "ipvlan": {"parent": PARENT_RE, "ipvlan_mode": re.compile(r"^(l2|l3|l3s)$")},
}


def check_name(name: str) -> str:
    if not NETWORK_NAME_RE.match(name):
        raise InvalidRequest(
            "name",
            "Use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit.",
        )
    if name in ("bridge", "host", "none"):
        raise InvalidRequest("name", f"{name!r} is one of Docker's own networks.")
    return name


def _cidr(field: str, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise InvalidRequest(field, f"{value!r} is not a network in CIDR form: {exc}.") from None


def check_ipam(subnet: str, gateway: str, ip_range: str) -> dict[str, str]:
    """``subnet``, ``gateway`` and ``ip_range`` as the agent takes them (empty: not given)."""
    if not subnet:
        if gateway:
            raise InvalidRequest("subnet", "Give the subnet the gateway is in.")
        if ip_range:
            raise InvalidRequest("subnet", "Give the subnet the IP range is in.")
        return {}
    network = _cidr("subnet", subnet)
    out = {"subnet": str(network)}
    if gateway:
        try:
            address = ipaddress.ip_address(gateway)
        except ValueError:
            raise InvalidRequest("gateway", f"{gateway!r} is not an IP address.") from None
        if address not in network or address in (
            network.network_address,
            network.broadcast_address,
        ):
            raise InvalidRequest("gateway", f"{address} is not a host address of {network}.")
        out["gateway"] = str(address)
    if ip_range:
        inner = _cidr("ip_range", ip_range)
        if inner.version != network.version or not inner.subnet_of(network):  # type: ignore[arg-type]
            raise InvalidRequest("ip_range", f"{inner} is not within {network}.")
        out["ip_range"] = str(inner)
    return out


def check_options(driver: str, options: dict[str, Any]) -> dict[str, str]:
    allowed = DRIVER_OPTIONS.get(driver, {})
    out: dict[str, str] = {}
    for key, value in options.items():
        pattern = allowed.get(key)
        if pattern is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise InvalidRequest(
                "options", f"{key!r} is not an option of the {driver} driver (allowed: {known})."
            )
        if not isinstance(value, str) or not pattern.match(value):
            raise InvalidRequest("options", f"{key} {str(value)[:100]!r} is not allowed.")
        out[key] = value
    if driver in ("macvlan", "ipvlan") and "parent" not in out:
        raise InvalidRequest(
            "options", f"A {driver} network needs options.parent (a host interface)."
        )
    return out


def check_container_ref(value: str) -> str:
    if not CONTAINER_REF_RE.match(value):
        raise InvalidRequest("container", f"{value[:100]!r} is not a container id or name.")
    return value.lstrip("/")


def check_aliases(aliases: list[str]) -> list[str]:
    for alias in aliases:
        if not ALIAS_RE.match(alias):
            raise InvalidRequest("aliases", f"{alias[:100]!r} is not a valid host name.")
    return aliases
