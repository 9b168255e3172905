"""service.list and service.remove."""

from __future__ import annotations

from typing import Any

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.ops import containers
from berth_agent.protocol import AgentError
from berth_agent.validation import check_keys, opt_int

from .args import REVISION_LABEL, SERVICE_LABEL, service_arg
from .lock import service_lock
from .switch import Old, service_containers, stop_and_remove


def _revision_label(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def list_services(ctx: OpContext, args: dict) -> list[dict[str, Any]]:
    check_keys(args, {"service"})
    service = service_arg(args, required=False)
    label = f"{SERVICE_LABEL}={service}" if service else SERVICE_LABEL
    out = []
    for c in docker_client.api().containers(all=True, filters={"label": label}):
        s = containers._summary_from_list(c)
        labels = s["labels"]
        out.append(
            {
                "id": s["id"],
                "name": s["name"],
                "service": labels.get(SERVICE_LABEL),
                "revision": _revision_label(labels.get(REVISION_LABEL)),
                "state": s["state"],
                "health": s["health"],
                "image": s["image"],
                "image_id": s["image_id"],
                "created": s["created"],
            }
        )
    out.sort(key=lambda c: (c["service"] or "", c["revision"] or 0, c["created"] or 0))
    return out


def remove(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"service", "stop_timeout"})
    service = service_arg(args)
    assert service is not None
    stop_timeout = opt_int(args, "stop_timeout", 10, 0, 3600)
    assert stop_timeout is not None
    api = docker_client.api()
    with service_lock(ctx, service), ctx.finish_on_eof():
        olds = [
            Old(c["Id"], ((c.get("Names") or ["/?"])[0]).lstrip("/"), c.get("State") or "")
            for c in service_containers(api, service)
        ]
        warnings = stop_and_remove(api, olds, stop_timeout)
        if warnings:
            raise AgentError("docker_error", "; ".join(warnings))
    return {"removed": [o.id for o in olds]}
