from __future__ import annotations

from datetime import UTC, datetime


def from_unix(value: float | int | None) -> datetime | None:
    """A timezone-aware datetime from the unix seconds Docker reports (None stays None)."""
    if not value:
        return None
    return datetime.fromtimestamp(value, tz=UTC)
