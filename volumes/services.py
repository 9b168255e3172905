"""Docker volumes on the hosts: what they report, measuring their sizes, and creating,
removing and pruning them.

Views and the API call the ``request_*`` functions here; each records an Operation and
queues it. The ``@action`` handlers below run in the worker: each calls the host's
agent and then re-reads the host's volumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from agent_link.errors import AgentError
from berth.reconcile import SyncCounts, store_reported, sync_host_rows
from berth.timeutil import from_unix
from hosts.agent import OPERATION_LABEL, HostAgent, call_then_reread, operation_host
from hosts.models import Host
from operations.context import OperationContext
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, submit

from .models import Volume
from .validators import DRIVERS, InvalidRequest, check_labels, check_name

# `system df` walks every volume's files: give it longer than an ordinary request.
MEASURE_TIMEOUT = 600.0

__all__ = ["InvalidRequest"]


# --- reconciling ---------------------------------------------------------------------


def reconcile_volumes(host: Any, reported: list[dict[str, Any]]) -> SyncCounts:
    """Store the host's volumes exactly as ``volume.list`` reported them. Sizes are
    replaced only by a list that measured them (``sizes``); otherwise the last measure
    stays, with its time."""
    now = timezone.now()
    rows = {}
    for item in reported:
        row = {
            "driver": item.get("driver") or "",
            "scope": item.get("scope") or "",
            "mountpoint": item.get("mountpoint") or "",
            "labels": item.get("labels") or {},
            "options": item.get("options") or {},
            "containers": item.get("containers") or [],
            "created": from_unix(item.get("created")),
        }
        if "size" in item:
            row["size"] = item["size"]
            row["size_measured_at"] = now
        rows[item["name"]] = row
    return sync_host_rows(Volume, host=host, key_field="name", reported=rows)


def read_volumes(agent: HostAgent, *, sizes: bool = False) -> list[dict[str, Any]]:
    """Re-read the host's volumes (measured with ``sizes``) and store them."""
    reported: list[dict[str, Any]] = agent.call(
        "volume.list",
        {"sizes": True} if sizes else {},
        timeout=MEASURE_TIMEOUT if sizes else float(settings.BERTH_AGENT_REQUEST_TIMEOUT),
        cancel=None,
    )
    store_reported(lambda: reconcile_volumes(agent.host, reported))
    return reported


def store_sizes(host: Host, sizes: dict[str, int | None]) -> int:
    """Store the sizes another measure of the host read (``host.disk``, the same
    ``system df``) on the volumes Berth knows; returns how many it stored."""
    now = timezone.now()
    rows = list(Volume.objects.filter(host=host, name__in=list(sizes)))
    for row in rows:
        row.size, row.size_measured_at = sizes[row.name], now
    Volume.objects.bulk_update(rows, ["size", "size_measured_at"])
    return len(rows)


def on_disk_measured(
    sender: Any, host: Host, volume_sizes: dict[str, int | None], **kwargs: Any
) -> None:
    store_sizes(host, volume_sizes)


# --- requests (check, record, queue) ---------------------------------------------------


@dataclass(frozen=True)
class VolumeSpec:
    """A checked ``volume.create``: what the agent is sent, and what the record shows."""

    name: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)

    def agent_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"name": self.name, "driver": self.driver}
        if self.labels:
            args["labels"] = dict(self.labels)
        return args


def prepare_create(host: Host, **fields: Any) -> VolumeSpec:
    """Check a new volume for ``host`` (InvalidRequest naming the field to fix)."""
    name = check_name(str(fields.get("name") or ""))
    driver = fields.get("driver") or "local"
    if driver not in DRIVERS:
        raise InvalidRequest("driver", f"Choose one of {', '.join(DRIVERS)}.")
    labels = check_labels(dict(fields.get("labels") or {}))
    if Volume.objects.filter(host=host, name=name).exists():
        raise InvalidRequest("name", f"{host.name} already has a volume named {name}.")
    return VolumeSpec(name=name, driver=driver, labels=labels)


def request_create(host: Host, spec: VolumeSpec, *, actor: Actor) -> Operation:
    """Record the creation of a volume on ``host`` and queue it."""
    return submit(
        action="volume.create", target=host, actor=actor, host=host, params=spec.agent_args()
    )


def request_remove(volume: Volume, *, actor: Actor) -> Operation:
    """Record the removal of a volume from its host and queue it. Refused here while a
    container uses it, as Berth last saw; the agent checks again on the host."""
    if volume.in_use:
        names = ", ".join(volume.user_names)
        raise InvalidRequest(
            "volume", f"{volume} is in use by {names}; remove those containers first."
        )
    return submit(
        action="volume.remove",
        target=volume,
        actor=actor,
        host=volume.host,
        params={"name": volume.name},
    )


def request_prune(
    host: Host, *, dry_run: bool = False, every: bool = False, actor: Actor
) -> Operation:
    """Record a prune of the host's unused volumes (anonymous ones, or with ``every`` all
    of them) and queue it; a dry run lists what would go and removes nothing."""
    return submit(
        action="volume.prune",
        target=host,
        actor=actor,
        host=host,
        params={"dry_run": dry_run, "all": every},
    )


def request_measure(host: Host, *, actor: Actor) -> Operation:
    """Record a measure of the sizes of the host's volumes (``system df``) and queue it."""
    return submit(action="volume.measure", target=host, actor=actor, host=host, params={})


# --- handlers (run in the worker) ---------------------------------------------------------


def _call_then_read(operation: Operation, context: OperationContext, op: str, args: Any) -> Any:
    return call_then_reread(operation, context, op, args, reread=read_volumes, what="volumes")


def _made_by(operation: Operation) -> Volume | None:
    """The volume this operation made, if a run of it got that far (it is labelled so)."""
    host_id = operation.host_id
    assert host_id is not None  # every volume operation acts on a host
    volume = Volume.objects.filter(host_id=host_id, name=operation.params["name"]).first()
    if volume is None or volume.labels.get(OPERATION_LABEL) != str(operation.pk):
        return None
    return volume


@action("volume.create", time_limit=180)
def _create(operation: Operation, context: OperationContext) -> dict[str, Any]:
    args = dict(operation.params)
    args["labels"] = {**(args.get("labels") or {}), OPERATION_LABEL: str(operation.pk)}
    try:
        result = _call_then_read(operation, context, "volume.create", args)
    except AgentError as exc:
        made = _made_by(operation) if exc.code == "conflict" else None
        if made is None:
            raise
        # A second run of this operation (its worker was lost): the first one made it.
        return {"name": made.name, "driver": made.driver}
    return {"name": result["name"], "driver": result["driver"]}


@action("volume.remove", time_limit=180)
def _remove(operation: Operation, context: OperationContext) -> dict[str, Any]:
    name = operation.params["name"]
    try:
        _call_then_read(operation, context, "volume.remove", {"name": name})
    except AgentError as exc:
        if exc.code == "not_found":
            return {"removed": False, "message": f"volume {name} was already gone"}
        raise  # the runner records the agent's message (it names the containers using it)
    return {"removed": True, "name": name}


@action("volume.prune", time_limit=300)
def _prune(operation: Operation, context: OperationContext) -> dict[str, Any]:
    args = {
        "dry_run": bool(operation.params.get("dry_run")),
        "all": bool(operation.params.get("all")),
    }
    result = _call_then_read(operation, context, "volume.prune", args)
    out = {
        "dry_run": args["dry_run"],
        "volumes": result.get("volumes") or [],
        "deleted": result.get("deleted") or [],
    }
    if result.get("kept"):
        out["kept"] = result["kept"]  # put to use between the list and the removal
    return out


@action("volume.measure", time_limit=int(MEASURE_TIMEOUT) + 60)
def _measure(operation: Operation, context: OperationContext) -> dict[str, Any]:
    agent = HostAgent(operation_host(operation), context)
    context.progress(force=True, step=f"measuring the volumes of {agent.host.name}")
    reported = read_volumes(agent, sizes=True)
    measured = [v for v in reported if v.get("size") is not None]
    return {
        "volumes": len(reported),
        "measured": len(measured),
        "bytes": sum(int(v["size"]) for v in measured),
    }
