"""Image state as the hosts report it."""

from __future__ import annotations

from typing import Any

from berth.reconcile import SyncCounts, sync_host_rows
from berth.timeutil import from_unix

from .models import Image


def reconcile_images(host: Any, reported: list[dict[str, Any]]) -> SyncCounts:
    """Store the host's images exactly as ``images.list`` reported them."""
    rows = {
        item["id"]: {
            "tags": item.get("tags") or [],
            "digests": item.get("digests") or [],
            "size": item.get("size") or 0,
            "created": from_unix(item.get("created")),
        }
        for item in reported
    }
    return sync_host_rows(Image, host=host, key_field="image_id", reported=rows)
