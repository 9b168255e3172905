"""Small helpers shared by the ops modules."""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

_ISO_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")


def iso_to_unix(value: Any) -> int | None:
    """Docker's RFC 3339 timestamps (nanoseconds, 'Z') to unix seconds; None if unset."""
    if not isinstance(value, str):
        return None
    m = _ISO_RE.match(value)
    if not m or value.startswith("0001-"):
        return None
    seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    # Docker writes local offsets rarely, but do honor them.
    tz = re.search(r"([+-])(\d{2}):(\d{2})$", value)
    if tz:
        offset = int(tz.group(2)) * 3600 + int(tz.group(3)) * 60
        seconds -= offset if tz.group(1) == "+" else -offset
    return seconds
