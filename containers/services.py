"""Container state as the hosts report it."""

from __future__ import annotations

from typing import Any

from berth.reconcile import SyncCounts, sync_host_rows
from berth.timeutil import from_unix

from .models import Container


def reconcile_containers(host: Any, reported: list[dict[str, Any]]) -> SyncCounts:
    """Store the host's containers exactly as ``containers.list`` reported them."""
    rows = {
        item["id"]: {
            "name": item["name"],
            "image": item.get("image") or "",
            "image_id": item.get("image_id") or "",
            "command": item.get("command") or "",
            "state": item.get("state") or "",
            "status": item.get("status") or "",
            "health": item.get("health") or "",
            "labels": item.get("labels") or {},
            "ports": item.get("ports") or [],
            "created": from_unix(item.get("created")),
        }
        for item in reported
    }
    return sync_host_rows(Container, host=host, key_field="container_id", reported=rows)
