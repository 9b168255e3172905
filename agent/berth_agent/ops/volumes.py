"""Volume ops: list (sizes only when asked), create, remove (refused while in use), prune
(with a dry run that lists what would go)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.ops import disk
from berth_agent.ops.common import iso_to_unix
from berth_agent.protocol import CONFLICT, NOT_FOUND, AgentError, InvalidArgument
from berth_agent.validation import check_keys, opt_bool, str_dict

# Volume names, as dockerd accepts them.
VOLUME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
# Only the local driver: its driver options can mount any device or host path, which the
# bind policy exists to refuse, so none are passed on.
DRIVERS = ("local",)
# Docker 23+ labels anonymous volumes; older engines name them with 64 hex digits.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
ANONYMOUS_RE = re.compile(r"^[0-9a-f]{64}$")

Users = Dict[str, List[Dict[str, str]]]


def volume_name(args: Dict[str, Any], key: str = "name") -> str:
    value = args.get(key)
    if value is None:
        raise InvalidArgument(f"args.{key} is required: a volume name")
    if not isinstance(value, str) or not VOLUME_RE.match(value):
        raise InvalidArgument(
            f"args.{key} must be 1-255 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    return value


def _users(api: Any) -> Users:
    """Volume name -> the containers (running or not) that mount it, from the container
    list's Mounts: no container is inspected."""
    users: Users = {}
    for c in api.containers(all=True):
        names = c.get("Names") or []
        name = names[0].lstrip("/") if names else str(c.get("Id") or "")[:12]
        for mount in c.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(mount["Name"], []).append({"id": c.get("Id") or "", "name": name})
    for found in users.values():
        found.sort(key=lambda u: u["name"])
    return users


def _summary(v: Dict[str, Any], users: Users) -> Dict[str, Any]:
    name = v.get("Name") or ""
    return {
        "name": name,
        "driver": v.get("Driver") or "",
        "scope": v.get("Scope") or "",
        "mountpoint": v.get("Mountpoint") or "",
        "labels": v.get("Labels") or {},
        "options": v.get("Options") or {},
        "created": iso_to_unix(v.get("CreatedAt")),
        "containers": users.get(name, []),
    }


def _volumes(api: Any) -> List[Dict[str, Any]]:
    return list((api.volumes() or {}).get("Volumes") or [])


def list_volumes(ctx: OpContext, args: Dict[str, Any]) -> List[Dict[str, Any]]:
    check_keys(args, {"sizes"})
    measure = opt_bool(args, "sizes", False)
    api = docker_client.api()
    users = _users(api)
    out = [_summary(v, users) for v in _volumes(api)]
    if measure:
        # `system df` of the volumes only (where the engine can), which walks their files.
        sizes = disk.volume_sizes(disk.system_df(api, ["volumes"]))
        for item in out:
            item["size"] = sizes.get(item["name"])
    return sorted(out, key=lambda v: str(v["name"]))


def check_create(args: Dict[str, Any]) -> Dict[str, Any]:
    """The validated arguments of ``volume.create`` as the Docker SDK takes them."""
    check_keys(args, {"name", "driver", "labels"})
    name = volume_name(args)
    driver = args.get("driver", "local")
    if driver not in DRIVERS:
        raise InvalidArgument(f"args.driver must be one of {', '.join(DRIVERS)}")
    labels = str_dict(args["labels"], "args.labels") if args.get("labels") else None
    return {"name": name, "driver": driver, "labels": labels}


def _find(api: Any, name: str) -> Optional[Dict[str, Any]]:
    # The name filter matches parts of names: only an equal one is taken.
    for v in (api.volumes(filters={"name": name}) or {}).get("Volumes") or []:
        if v.get("Name") == name:
            return dict(v)
    return None


def create(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    spec = check_create(args)
    api = docker_client.api()
    # dockerd answers a create of an existing name with that volume: say so instead.
    if _find(api, spec["name"]) is not None:
        raise AgentError(CONFLICT, f"a volume named {spec['name']} already exists")
    made = api.create_volume(**spec)
    return _summary(made, {})


def _in_use_message(name: str, users: List[Dict[str, str]]) -> str:
    names = ", ".join(u["name"] for u in users)
    return f"volume {name} is in use by {names}; remove those containers first"


def remove(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(args, {"name"})
    name = volume_name(args)
    api = docker_client.api()
    if _find(api, name) is None:
        raise AgentError(NOT_FOUND, f"no volume named {name}")
    users = _users(api).get(name)
    if users:
        raise AgentError(CONFLICT, _in_use_message(name, users))
    api.remove_volume(name)
    return {"name": name}


def _anonymous(v: Dict[str, Any]) -> bool:
    return ANONYMOUS_LABEL in (v.get("Labels") or {}) or bool(ANONYMOUS_RE.match(v["Name"]))


def prune(ctx: OpContext, args: Dict[str, Any]) -> Dict[str, Any]:
    """Remove the volumes no container (running or not) mounts: anonymous ones only, as
    ``docker volume prune`` does, or every one with ``all``. ``dry_run`` lists them and
    removes nothing."""
    check_keys(args, {"dry_run", "all"})
    dry_run = opt_bool(args, "dry_run", False)
    every = opt_bool(args, "all", False)
    api = docker_client.api()
    users = _users(api)
    unused = sorted(
        v["Name"]
        for v in _volumes(api)
        if v.get("Name") and v["Name"] not in users and (every or _anonymous(v))
    )
    if dry_run:
        return {"dry_run": True, "volumes": unused, "deleted": []}
    deleted, kept = [], []
    for name in unused:
        try:
            api.remove_volume(name)
        except Exception as exc:  # put to use or removed since the list: leave it
            error = docker_client.translate_error(exc)
            if error is None or error.code not in (CONFLICT, NOT_FOUND):
                raise
            if error.code == CONFLICT:
                kept.append(name)
            continue
        deleted.append(name)
    return {"dry_run": False, "volumes": unused, "deleted": deleted, "kept": kept}
