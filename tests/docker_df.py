"""`docker system df` as the docker CLI prints it, to check Berth's disk usage against.

The CLI prints sizes rounded (go-units' HumanSize: decimal units, 4 significant digits)
and each kind's reclaimable share as a whole percentage; Berth's exact numbers are
printed the same way here and the texts compared."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# The CLI's names for the kinds, and Berth's.
KINDS = {
    "Images": "images",
    "Containers": "containers",
    "Local Volumes": "volumes",
    "Build Cache": "build_cache",
}
SHOWN = ("TotalCount", "Active", "Size", "Reclaimable")


def human(size: int) -> str:
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{value:.4g}{units[unit]}"


def as_docker_prints(kind: str, usage: dict[str, int]) -> dict[str, str]:
    """One kind of Berth's usage (count, active, size, reclaimable) as the CLI shows it."""
    size, reclaimable = usage["size"], usage["reclaimable"]
    shown = human(reclaimable)
    if kind != "build_cache" and size > 0:
        shown += f" ({reclaimable * 100 // size}%)"
    return {
        "TotalCount": str(usage["count"]),
        "Active": str(usage["active"]),
        "Size": human(size),
        "Reclaimable": shown,
    }


def parse(output: str) -> dict[str, dict[str, str]]:
    """`docker system df --format '{{json .}}'`, by Berth's kind names."""
    rows = [json.loads(line) for line in output.splitlines() if line.strip()]
    return {KINDS[row["Type"]]: {key: row[key] for key in SHOWN} for row in rows}


def agrees(usage: Callable[[], dict[str, Any]], docker_df: Callable[[], str], tries: int = 5):
    """Read Berth's usage and the CLI's, back to back, until they agree (the engine may be
    shared with other tests, which change it between two reads); the last pair read."""
    for _ in range(tries):
        ours = usage()
        theirs = parse(docker_df())
        printed = {kind: as_docker_prints(kind, ours[kind]) for kind in theirs}
        if printed == theirs:
            break
    return printed, theirs, ours
