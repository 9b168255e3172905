"""Disk usage: one ``system df`` (the engine's own measure of images, containers' writable
layers, volumes and build cache) summed per kind with what a prune would reclaim, as the
docker CLI of the same engine sums it. ``volume.list`` with sizes reads the same call."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.validation import check_keys

KINDS = ("images", "containers", "volumes", "build_cache")
# `system df` of some kinds only (it otherwise measures every kind) from API 1.42.
DF_TYPE_API = (1, 42)
_DF_TYPES = {
    "images": "image",
    "containers": "container",
    "volumes": "volume",
    "build_cache": "build-cache",
}
# From API 1.52 the engine sums each kind itself (and lists the items only when verbose);
# before, it answers the items and its client sums them.
_USAGE_KEYS = {
    "images": "ImageUsage",
    "containers": "ContainerUsage",
    "volumes": "VolumeUsage",
    "build_cache": "BuildCacheUsage",
}
_LEGACY_KEYS = {
    "images": "Images",
    "containers": "Containers",
    "volumes": "Volumes",
    "build_cache": "BuildCache",
}
# A container in one of these states keeps its writable layer through a prune.
ACTIVE_STATES = ("running", "paused", "restarting")

Usage = Dict[str, int]


def api_version(api: Any) -> tuple:
    try:
        return tuple(int(p) for p in str(api.api_version).split(".")[:2])
    except ValueError:
        return (0, 0)


def system_df(api: Any, kinds: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """The engine's ``GET /system/df``: of ``kinds`` only where the engine can (API 1.42+),
    and verbose, so that an engine that sums each kind itself still lists the items."""
    params: Dict[str, Any] = {"verbose": 1}
    if kinds is not None and api_version(api) >= DF_TYPE_API:
        params["type"] = [_DF_TYPES[kind] for kind in kinds]
    answer = api._result(api._get(api._url("/system/df"), params=params), True)
    return answer if isinstance(answer, dict) else {}


def items(df: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
    """The images, containers, volumes or build cache records of a ``system df`` answer."""
    found = df.get(_LEGACY_KEYS[kind])
    if found is None:
        found = (df.get(_USAGE_KEYS[kind]) or {}).get("Items")
    return [item for item in found or [] if isinstance(item, dict)]


def volume_sizes(df: Dict[str, Any]) -> Dict[str, Optional[int]]:
    """Volume name -> bytes used; None when the driver does not say (Docker's -1)."""
    out: Dict[str, Optional[int]] = {}
    for v in items(df, "volumes"):
        size = (v.get("UsageData") or {}).get("Size")
        out[str(v.get("Name"))] = size if _known(size) else None
    return out


def _known(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> int:
    return value if _known(value) else 0


def _usage(count: int, active: int, size: int, reclaimable: int) -> Usage:
    # Never more reclaimable than there is (Docker's own sum can say so for images).
    size = max(size, 0)
    return {
        "count": count,
        "active": active,
        "size": size,
        "reclaimable": min(max(reclaimable, 0), size),
    }


def _images(df: Dict[str, Any]) -> Usage:
    """Total: every layer once (LayersSize). Reclaimable: that, less the unique size of
    each image a container uses (what `docker system df` before Docker 29 shows)."""
    images = items(df, "images")
    active = [i for i in images if _number(i.get("Containers")) > 0]
    used = sum(
        _number(i.get("Size")) - _number(i.get("SharedSize"))
        for i in active
        if _known(i.get("Size")) and _known(i.get("SharedSize"))
    )
    total = _number(df.get("LayersSize"))
    return _usage(len(images), len(active), total, total - used)


def _containers(df: Dict[str, Any]) -> Usage:
    """Writable layers (SizeRw); reclaimable: those of containers that are not running,
    paused or restarting (what `docker container prune` removes)."""
    containers = items(df, "containers")
    total = active = kept = 0
    for c in containers:
        size = _number(c.get("SizeRw"))
        total += size
        if str(c.get("State") or "") in ACTIVE_STATES:
            active += 1
            kept += size
    return _usage(len(containers), active, total, total - kept)


def _volumes(df: Dict[str, Any]) -> Usage:
    """Volumes a driver measures; reclaimable: those no container mounts (what `docker
    volume prune --all` removes)."""
    volumes = items(df, "volumes")
    total = active = unused = 0
    for v in volumes:
        data = v.get("UsageData") or {}
        size = _number(data.get("Size"))
        total += size
        refs = data.get("RefCount")
        if _number(refs) > 0:
            active += 1
        elif refs == 0:  # -1: the engine does not know; not counted either way
            unused += size
    return _usage(len(volumes), active, total, unused)


def _build_cache(df: Dict[str, Any]) -> Usage:
    """Records not shared with another (shared ones count once, elsewhere); reclaimable:
    those not in use (what `docker builder prune` removes)."""
    records = items(df, "build_cache")
    total = active = kept = 0
    for record in records:
        size = 0 if record.get("Shared") else _number(record.get("Size"))
        total += size
        if record.get("InUse"):
            active += 1
            kept += size
    return _usage(len(records), active, total, total - kept)


_LEGACY_SUMS = {
    "images": _images,
    "containers": _containers,
    "volumes": _volumes,
    "build_cache": _build_cache,
}


def usage(df: Dict[str, Any]) -> Dict[str, Usage]:
    """Per kind: count, active (in use), size and reclaimable bytes. The engine's own sums
    where it gives them (API 1.52+), else the items summed as its client sums them."""
    out: Dict[str, Usage] = {}
    for kind in KINDS:
        summed = df.get(_USAGE_KEYS[kind])
        if isinstance(summed, dict) and "TotalSize" in summed:
            out[kind] = _usage(
                _number(summed.get("TotalCount")),
                _number(summed.get("ActiveCount")),
                _number(summed.get("TotalSize")),
                _number(summed.get("Reclaimable")),
            )
        else:
            out[kind] = _LEGACY_SUMS[kind](df)
    return out


def disk(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    """``host.disk``: the host's Docker disk usage per kind, with each volume's size."""
    check_keys(args, set())
    df = system_df(docker_client.api())
    ctx.check_cancelled()
    out: Dict[str, Any] = dict(usage(df))
    out["volume_sizes"] = volume_sizes(df)
    return out
