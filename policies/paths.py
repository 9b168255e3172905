"""Host paths a container may bind: normalising, the hard deny list and prefix sets.

Pure functions, no database: the agent keeps its own copy of the deny list
(agent/berth_agent/policy.py) because it imports nothing from the server.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

# Never a bind source, whatever a policy says: each of these hands the container the
# host (its root filesystem, the Docker engine, kernel interfaces, credentials).
DENIED_PATHS = (
    "/",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/root",
    "/home",
    "/var/lib/docker",
    "/boot",
    "/run",
)


def normalise(path: str) -> str:
    """``path`` with ``..``, ``.``, repeated and trailing slashes resolved (lexically:
    ``/srv/../etc`` is ``/etc``). Symlinks on the host are the agent's to resolve."""
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/") if norm.startswith("/") else norm


def is_under(path: str, prefix: str) -> bool:
    """Whether normalised ``path`` is ``prefix`` or inside it (``/srv/data2`` is not
    inside ``/srv/data``)."""
    return prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")


def denied_by(path: str) -> str | None:
    """The deny-list entry that refuses ``path`` as a bind source, if any: ``/`` only
    itself, the others themselves and everything under them, and any Docker socket."""
    path = normalise(path)
    if path == "/":
        return "/"
    if posixpath.basename(path).endswith("docker.sock"):
        return "docker.sock"
    for denied in DENIED_PATHS[1:]:
        if is_under(path, denied):
            return denied
    return None


def allowed_by(path: str, prefixes: Iterable[str]) -> bool:
    path = normalise(path)
    return any(is_under(path, prefix) for prefix in prefixes)


def intersect(first: Iterable[str], second: Iterable[str]) -> list[str]:
    """The prefixes whose subtrees are allowed by both sets (a path is allowed by the
    result exactly when both sets allow it)."""
    out: set[str] = set()
    for a in first:
        for b in second:
            if is_under(a, b):
                out.add(a)
            elif is_under(b, a):
                out.add(b)
    return minimal(out)


def minimal(prefixes: Iterable[str]) -> list[str]:
    """Sorted, without a prefix already covered by another."""
    unique = sorted(set(prefixes))
    return [p for p in unique if not any(q != p and is_under(p, q) for q in unique)]
