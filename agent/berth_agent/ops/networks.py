"""Network ops: list, create, remove, prune, connect and disconnect a container."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, List, Optional, Union

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.ops.common import iso_to_unix
from berth_agent.protocol import CONFLICT, AgentError, InvalidArgument
from berth_agent.validation import (
    check_keys,
    check_str,
    container_ref,
    opt_bool,
    str_dict,
    str_list,
)

# Network names and ids, as dockerd accepts them.
NETWORK_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
# A host interface (and VLAN sub-interface) a macvlan or ipvlan network sits on.
PARENT_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,14}$")
ALIAS_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
DRIVERS = ("bridge", "macvlan", "ipvlan", "overlay")
# Docker's own networks: never removed.
PREDEFINED = frozenset({"bridge", "host", "none"})
# Driver options Berth passes on, per driver.
DRIVER_OPTIONS = {
    "macvlan": {
        "parent": PARENT_RE,
        "macvlan_mode": re.compile(r"^(bridge|vepa|passthru|private)$"),
    },
    "ipvlan": {"parent": PARENT_RE, "ipvlan_mode": re.compile(r"^(l2|l3|l3s)$")},
}
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _summary(
    attrs: Dict[str, Any], attached: Optional[List[Dict[str, str]]] = None
) -> Dict[str, Any]:
    """What Berth shows of a network; ``attached`` (id and name of each container) in
    place of the ``Containers`` an inspect has and a list leaves out."""
    ipam = [c for c in ((attrs.get("IPAM") or {}).get("Config") or []) if isinstance(c, dict)]
    if attached is None:
        attached = [
            {"id": cid, "name": str((info or {}).get("Name") or "")}
            for cid, info in (attrs.get("Containers") or {}).items()
            # Swarm's load balancer endpoints are not containers.
            if not cid.startswith("lb-")
        ]
    return {
        "id": attrs.get("Id"),
        "name": attrs.get("Name"),
        "driver": attrs.get("Driver") or "",
        "scope": attrs.get("Scope") or "",
        "internal": bool(attrs.get("Internal")),
        "attachable": bool(attrs.get("Attachable")),
        "labels": attrs.get("Labels") or {},
        "options": attrs.get("Options") or {},
        "subnets": [
            {
                "subnet": c.get("Subnet") or "",
                "gateway": c.get("Gateway") or "",
                "ip_range": c.get("IPRange") or "",
            }
            for c in ipam
            if c.get("Subnet")
        ],
        "containers": sorted(attached, key=lambda c: c["name"]),
        "created": iso_to_unix(attrs.get("Created")),
    }


def network_ref(args: Dict[str, Any], key: str = "id") -> str:
    """The network an op acts on: an id (full or prefix) or a name."""
    value = args.get(key)
    if value is None:
        raise InvalidArgument(f"args.{key} is required: a network id or name")
    if not isinstance(value, str) or not NETWORK_RE.match(value):
        raise InvalidArgument(f"args.{key} is not a valid network id or name")
    return value


def _inspect(ref: str) -> Dict[str, Any]:
    attrs = docker_client.api().inspect_network(ref)
    return attrs if isinstance(attrs, dict) else {}


def list_networks(ctx: OpContext, args: Dict[str, Any]) -> List[Dict[str, Any]]:
    check_keys(args, set())
    api = docker_client.api()
    attached = _attached(api)
    # The list has everything but the attached containers, which one list of the running
    # containers gives for every network at once: no inspect per network on each refresh.
    out = [_summary(item, attached.get(str(item.get("Id")), [])) for item in api.networks()]
    return sorted(out, key=lambda n: str(n["name"]))


def _attached(api: Any) -> Dict[str, List[Dict[str, str]]]:
    """Network id -> the containers attached to it: the running ones (and paused), which
    are those with an endpoint on it, as an inspect of the network lists them."""
    found: Dict[str, List[Dict[str, str]]] = {}
    for container in api.containers():
        name = ((container.get("Names") or ["/?"])[0]).lstrip("/")
        networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
        for endpoint in networks.values():
            network_id = (endpoint or {}).get("NetworkID")
            if network_id:
                found.setdefault(network_id, []).append({"id": container["Id"], "name": name})
    return found


def _ip_network(value: Any, what: str) -> IPNetwork:
    text = check_str(value, what, 64)
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        problem = f"{what} {text[:64]!r} is not a network in CIDR form: {exc}"
        raise InvalidArgument(problem) from None


def _ipam(args: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The IPAM block for ``subnet``, ``gateway`` and ``ip_range``; None when none is given."""
    subnet_arg, gateway_arg, range_arg = (args.get(k) for k in ("subnet", "gateway", "ip_range"))
    if subnet_arg is None:
        if gateway_arg is not None or range_arg is not None:
            raise InvalidArgument("args.subnet is required with args.gateway or args.ip_range")
        return None
    subnet = _ip_network(subnet_arg, "args.subnet")
    pool: Dict[str, str] = {"Subnet": str(subnet)}
    if gateway_arg is not None:
        text = check_str(gateway_arg, "args.gateway", 64)
        try:
            gateway = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidArgument(f"args.gateway {text[:64]!r} is not an IP address") from None
        if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"args.gateway {gateway} is not a host address of {subnet}")
        pool["Gateway"] = str(gateway)
    if range_arg is not None:
        ip_range = _ip_network(range_arg, "args.ip_range")
        if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
            raise InvalidArgument(f"args.ip_range {ip_range} is not within {subnet}")
        pool["IPRange"] = str(ip_range)
    return {"Driver": "default", "Config": [pool]}


def _options(driver: str, value: Any) -> Dict[str, str]:
    if value is None:
        return {}
    options = str_dict(value, "args.options")
    allowed = DRIVER_OPTIONS.get(driver, {})
    for key, text in options.items():
        pattern = allowed.get(key)
        if pattern is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise InvalidArgument(
                f"args.options[{key[:100]!r}] is not an option of the {driver} driver "
                f"(allowed: {known})"
            )
        if not pattern.match(text):
            raise InvalidArgument(f"args.options[{key!r}] {text[:100]!r} is not allowed")
    return options


def check_create(args: Dict[str, Any]) -> Dict[str, Any]:
    """The validated arguments of ``network.create`` as the Docker SDK takes them."""
    check_keys(
        args,
        {"name", "driver", "subnet", "gateway", "ip_range", "internal", "attachable", "labels",
         "options"},
    )  # fmt: skip
    name = args.get("name")
    if not isinstance(name, str) or not NETWORK_RE.match(name):
        raise InvalidArgument(
            "args.name must be 1-128 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    if name in PREDEFINED:
        raise InvalidArgument(f"args.name {name!r} is one of Docker's predefined networks")
    driver = args.get("driver", "bridge")
    if driver not in DRIVERS:
        raise InvalidArgument(f"args.driver must be one of {', '.join(DRIVERS)}")
    options = _options(driver, args.get("options"))
    if driver in ("macvlan", "ipvlan") and "parent" not in options:
        raise InvalidArgument(f"args.options.parent (a host interface) is required for {driver}")
    return {
        "name": name,
        "driver": driver,
        "options": options or None,
        "ipam": _ipam(args),
        "internal": opt_bool(args, "internal", False),
        "attachable": opt_bool(args, "attachable", False),
        "labels": str_dict(args["labels"], "args.labels") if args.get("labels") else None,
    }


def create(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    spec = check_create(args)
    api = docker_client.api()
    # The name filter matches parts of names: only an equal one is taken.
    if any(n.get("Name") == spec["name"] for n in api.networks(names=[spec["name"]])):
        raise AgentError(CONFLICT, f"a network named {spec['name']} already exists")
    created = api.create_network(check_duplicate=True, **spec)
    return _summary(_inspect(created["Id"]))


def remove(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(args, {"id"})
    attrs = _inspect(network_ref(args))
    summary = _summary(attrs)
    if summary["name"] in PREDEFINED:
        raise AgentError(CONFLICT, f"{summary['name']} is one of Docker's predefined networks")
    if summary["containers"]:
        names = ", ".join(c["name"] or c["id"][:12] for c in summary["containers"])
        raise AgentError(
            CONFLICT,
            f"network {summary['name']} has containers attached: {names}; disconnect them first",
        )
    docker_client.api().remove_network(summary["id"])
    return {"id": summary["id"], "name": summary["name"]}


def prune(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(args, set())
    out = docker_client.api().prune_networks() or {}
    return {"deleted": sorted(out.get("NetworksDeleted") or [])}


def _aliases(value: Any) -> List[str]:
    aliases = str_list(value, "args.aliases", 32)
    for alias in aliases:
        if not ALIAS_RE.match(alias):
            raise InvalidArgument(f"args.aliases: {alias[:100]!r} is not a valid host name")
    return aliases


def connect(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(args, {"id", "container", "aliases"})
    ref, container = network_ref(args), container_ref(args, "container")
    aliases = _aliases(args["aliases"]) if args.get("aliases") is not None else None
    api = docker_client.api()
    network = _summary(_inspect(ref))
    if network["name"] in ("host", "none"):
        raise AgentError(
            CONFLICT, f"containers cannot be connected to the {network['name']} network"
        )
    api.connect_container_to_network(container, network["id"], aliases=aliases)
    return _summary(_inspect(network["id"]))


def disconnect(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(args, {"id", "container", "force"})
    ref, container = network_ref(args), container_ref(args, "container")
    force = opt_bool(args, "force", False)
    api = docker_client.api()
    network = _summary(_inspect(ref))
    api.disconnect_container_from_network(container, network["id"], force=force)
    return _summary(_inspect(network["id"]))
