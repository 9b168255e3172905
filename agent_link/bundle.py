"""The agent zipapp this server ships to hosts (built by `make agent`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .errors import AgentStartFailed


@dataclass(frozen=True)
class AgentBundle:
    path: Path
    data: bytes
    sha256: str


_cache: dict[tuple[Path, float], AgentBundle] = {}


def agent_bundle() -> AgentBundle:
    """The current berth-agent.pyz and its SHA-256 (re-read when the file changes)."""
    path = Path(settings.BERTH_AGENT_PYZ)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise AgentStartFailed(
            f"the agent bundle {path} is missing: build it with `make agent`"
        ) from None
    key = (path, mtime)
    if key not in _cache:
        data = path.read_bytes()
        _cache.clear()
        _cache[key] = AgentBundle(path=path, data=data, sha256=hashlib.sha256(data).hexdigest())
    return _cache[key]
