"""Docker networks on the hosts: what they report, and creating, removing, pruning them
and connecting containers to them.

Views and the API call the ``request_*`` functions here; each records an Operation and
queues it. The ``@action`` handlers below run in the worker: each calls the host's
agent and then re-reads the host's networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q

from agent_link.errors import AgentError
from berth.reconcile import SyncCounts, store_reported, sync_host_rows
from berth.timeutil import from_unix
from containers.models import Container
from hosts.agent import OPERATION_LABEL, HostAgent, call_then_reread
from hosts.models import Host
from operations.context import OperationContext
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, submit

from .models import Network
from .validators import (
    DRIVERS,
    InvalidRequest,
    check_aliases,
    check_container_ref,
    check_ipam,
    check_name,
    check_options,
)

__all__ = ["InvalidRequest", "check_aliases"]


# --- reconciling ---------------------------------------------------------------------


def reconcile_networks(host: Any, reported: list[dict[str, Any]]) -> SyncCounts:
    """Store the host's networks exactly as ``network.list`` reported them."""
    rows = {
        item["id"]: {
            "name": item["name"],
            "driver": item.get("driver") or "",
            "scope": item.get("scope") or "",
            "internal": bool(item.get("internal")),
            "attachable": bool(item.get("attachable")),
            "labels": item.get("labels") or {},
            "options": item.get("options") or {},
            "subnets": item.get("subnets") or [],
            "containers": item.get("containers") or [],
            "created": from_unix(item.get("created")),
        }
        for item in reported
    }
    return sync_host_rows(Network, host=host, key_field="network_id", reported=rows)


def read_networks(agent: HostAgent) -> list[dict[str, Any]]:
    """Re-read the host's networks and store them (a refresh may be doing the same)."""
    reported: list[dict[str, Any]] = agent.call(
        "network.list", timeout=float(settings.BERTH_AGENT_REQUEST_TIMEOUT), cancel=None
    )
    store_reported(lambda: reconcile_networks(agent.host, reported))
    return reported


# --- requests (check, record, queue) ---------------------------------------------------


@dataclass(frozen=True)
class NetworkSpec:
    """A checked ``network.create``: what the agent is sent, and what the record shows."""

    name: str
    driver: str = "bridge"
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    def agent_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "name": self.name,
            "driver": self.driver,
            "internal": self.internal,
            "attachable": self.attachable,
        }
        args.update(check_ipam(self.subnet, self.gateway, self.ip_range))
        if self.labels:
            args["labels"] = dict(self.labels)
        if self.options:
            args["options"] = dict(self.options)
        return args


def prepare_create(host: Host, **fields: Any) -> NetworkSpec:
    """Check a new network for ``host`` (InvalidRequest naming the field to fix)."""
    name = check_name(str(fields.get("name") or ""))
    driver = fields.get("driver") or "bridge"
    if driver not in DRIVERS:
        raise InvalidRequest("driver", f"Choose one of {', '.join(DRIVERS)}.")
    ipam = check_ipam(
        fields.get("subnet") or "", fields.get("gateway") or "", fields.get("ip_range") or ""
    )
    options = check_options(driver, dict(fields.get("options") or {}))
    labels = dict(fields.get("labels") or {})
    if any(key.startswith("berth.") for key in labels):
        raise InvalidRequest("labels", "Labels starting with berth. are Berth's own.")
    if Network.objects.filter(host=host, name=name).exists():
        raise InvalidRequest("name", f"{host.name} already has a network named {name}.")
    return NetworkSpec(
        name=name,
        driver=driver,
        subnet=ipam.get("subnet", ""),
        gateway=ipam.get("gateway", ""),
        ip_range=ipam.get("ip_range", ""),
        internal=bool(fields.get("internal", False)),
        attachable=bool(fields.get("attachable", False)),
        labels=labels,
        options=options,
    )


def request_create(host: Host, spec: NetworkSpec, *, actor: Actor) -> Operation:
    """Record the creation of a network on ``host`` and queue it."""
    return submit(
        action="network.create", target=host, actor=actor, host=host, params=spec.agent_args()
    )


def _identity(network: Network) -> dict[str, str]:
    return {"network_id": network.network_id, "name": network.name}


def request_remove(network: Network, *, actor: Actor) -> Operation:
    """Record the removal of a network from its host and queue it. Docker's own networks
    are refused here; a network with containers attached, by the agent."""
    if network.predefined:
        raise InvalidRequest("network", f"{network.name} is one of Docker's own networks.")
    return submit(
        action="network.remove",
        target=network,
        actor=actor,
        host=network.host,
        params=_identity(network),
    )


def request_prune(host: Host, *, actor: Actor) -> Operation:
    """Record a prune of the host's unused networks and queue it."""
    return submit(action="network.prune", target=host, actor=actor, host=host, params={})


def find_container(network: Network, ref: str) -> Container:
    """The container on the network's host that ``ref`` (a name or an id of at least 12
    hex digits) names, as Berth last saw it."""
    ref = check_container_ref(ref)
    match = Q(name=ref)
    if len(ref) >= 12 and all(c in "0123456789abcdef" for c in ref):
        match |= Q(container_id__startswith=ref)
    found = list(Container.objects.filter(match, host_id=network.host_id)[:2])
    if len(found) != 1:
        problem = "No container" if not found else "More than one container"
        raise InvalidRequest("container", f"{problem} {ref!r} on {network.host.name}.")
    return found[0]


def request_connect(
    network: Network, container: Container, *, aliases: list[str] | None = None, actor: Actor
) -> Operation:
    """Record the connection of a container to a network (same host) and queue it."""
    if network.name in ("host", "none"):
        raise InvalidRequest("network", f"Containers cannot be connected to {network.name}.")
    params: dict[str, Any] = {
        **_identity(network),
        "container_id": container.container_id,
        "container": container.name,
    }
    if aliases:
        params["aliases"] = check_aliases(aliases)
    return submit(
        action="network.connect", target=network, actor=actor, host=network.host, params=params
    )


def request_disconnect(
    network: Network, container: Container, *, force: bool = False, actor: Actor
) -> Operation:
    """Record the disconnection of a container from a network and queue it."""
    params = {
        **_identity(network),
        "container_id": container.container_id,
        "container": container.name,
        "force": force,
    }
    return submit(
        action="network.disconnect", target=network, actor=actor, host=network.host, params=params
    )


# --- handlers (run in the worker) ---------------------------------------------------------


def _call_then_read(operation: Operation, context: OperationContext, op: str, args: Any) -> Any:
    return call_then_reread(operation, context, op, args, reread=read_networks, what="networks")


def _host_id(operation: Operation) -> int:
    host_id = operation.host_id
    assert host_id is not None  # every network operation acts on a host
    return host_id


def _made_by(operation: Operation) -> Network | None:
    """The network this operation made, if a run of it got that far (it is labelled so)."""
    network = Network.objects.filter(
        host_id=_host_id(operation), name=operation.params["name"]
    ).first()
    if network is None or network.labels.get(OPERATION_LABEL) != str(operation.pk):
        return None
    return network


@action("network.create", time_limit=180)
def _create(operation: Operation, context: OperationContext) -> dict[str, Any]:
    args = dict(operation.params)
    args["labels"] = {**(args.get("labels") or {}), OPERATION_LABEL: str(operation.pk)}
    try:
        result = _call_then_read(operation, context, "network.create", args)
    except AgentError as exc:
        made = _made_by(operation) if exc.code == "conflict" else None
        if made is None:
            raise
        # A second run of this operation (its worker was lost): the first one made it.
        return {"id": made.network_id, "name": made.name, "subnets": made.subnets}
    return {"id": result["id"], "name": result["name"], "subnets": result["subnets"]}


@action("network.remove", time_limit=180)
def _remove(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    try:
        result = _call_then_read(operation, context, "network.remove", {"id": params["network_id"]})
    except AgentError as exc:
        if exc.code == "not_found":
            return {"removed": False, "message": f"network {params['name']} was already gone"}
        raise  # the runner records the agent's message (it names attached containers)
    return {"removed": True, "name": result["name"]}


@action("network.prune", time_limit=300)
def _prune(operation: Operation, context: OperationContext) -> dict[str, Any]:
    result = _call_then_read(operation, context, "network.prune", {})
    return {"deleted": result.get("deleted") or []}


def _attached(result: dict[str, Any]) -> list[str]:
    return [str(c.get("name") or c.get("id")) for c in result.get("containers") or []]


def _is_attached(operation: Operation) -> bool | None:
    """Whether the operation's container is attached to its network, as just re-read;
    None when the network is gone."""
    network = Network.objects.filter(
        host_id=_host_id(operation), network_id=operation.params["network_id"]
    ).first()
    if network is None:
        return None
    return any(c.get("id") == operation.params["container_id"] for c in network.containers)


def _stored_result(operation: Operation) -> dict[str, Any]:
    network = Network.objects.get(
        host_id=_host_id(operation), network_id=operation.params["network_id"]
    )
    return {"network": network.name, "containers": _attached({"containers": network.containers})}


@action("network.connect", time_limit=180)
def _connect(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    args: dict[str, Any] = {"id": params["network_id"], "container": params["container_id"]}
    if params.get("aliases"):
        args["aliases"] = list(params["aliases"])
    try:
        result = _call_then_read(operation, context, "network.connect", args)
    except AgentError:
        if not _is_attached(operation):
            raise
        # Attached already (a second run of this operation): what was asked for holds.
        return _stored_result(operation)
    return {"network": result["name"], "containers": _attached(result)}


@action("network.disconnect", time_limit=180)
def _disconnect(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    args = {
        "id": params["network_id"],
        "container": params["container_id"],
        "force": bool(params.get("force", False)),
    }
    try:
        result = _call_then_read(operation, context, "network.disconnect", args)
    except AgentError as exc:
        if exc.code == "not_found" or _is_attached(operation) is not False:
            raise
        return _stored_result(operation)  # not attached (any more): what was asked for holds
    return {"network": result["name"], "containers": _attached(result)}
