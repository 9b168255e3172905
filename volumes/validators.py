"""Checks of a volume's spec, the same ones the agent applies on the host
(agent/berth_agent/ops/volumes.py), so bad input is refused with a 400 naming the field
before anything is queued."""

from __future__ import annotations

import re

from berth.invalid import InvalidRequest

VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
# Only the local driver, without options: those can mount any device or host path.
DRIVERS = ("local",)


def check_name(name: str) -> str:
    if not VOLUME_NAME_RE.match(name):
        raise InvalidRequest(
            "name",
            "Use 1-255 letters, digits, '_', '.' or '-', starting with a letter or digit.",
        )
    return name


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if any(key.startswith("berth.") for key in labels):
        raise InvalidRequest("labels", "Labels starting with berth. are Berth's own.")
    return labels
