"""The host's container security policy, enforced by the agent itself.

Berth writes ``~/.berth/policy.json`` (``{"version": 1, "allowed_bind_prefixes": [...]}``);
the agent reads it before every op that creates a container, so a forged request or
a bug on the server still cannot bind what the host's policy does not allow. The
file is trusted only if it and ``~/.berth`` belong to the agent's user and no one
else can write (or read) them: otherwise, or when it is missing or unreadable, the
policy is empty and no host path may be bind-mounted at all. The hard deny list
below is refused whatever the file says. This module imports nothing from Berth:
the list is kept in step with policies/paths.py on the server by hand.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from typing import Any

from berth_agent.protocol import POLICY_DENIED, AgentError

POLICY_DIR = os.path.join("~", ".berth")
POLICY_FILE = "policy.json"
POLICY_VERSION = 1
MAX_POLICY_BYTES = 256 * 1024
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
# Labels Berth's own deploys set (service.deploy adds them itself); a containers.run
# may carry only the run key Berth's run handler adds to find its container again.
RESERVED_LABEL_PREFIX = "berth."
RUN_KEY_LABEL = "berth.run"


class PolicyDenied(AgentError):
    def __init__(self, message: str) -> None:
        super().__init__(POLICY_DENIED, message)


def _is_under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")


def denied_by(path: str) -> str | None:
    """The deny-list entry that refuses ``path`` as a bind source, if any."""
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == "/":
        return "/"
    if posixpath.basename(path).endswith("docker.sock"):
        return "docker.sock"
    for denied in DENIED_PATHS[1:]:
        if _is_under(path, denied):
            return denied
    return None


def _untrusted(what: str, st: os.stat_result, mode: int) -> str | None:
    if st.st_uid != os.getuid():
        return f"{what} is owned by uid {st.st_uid}, not by the agent's user (uid {os.getuid()})"
    if stat.S_IMODE(st.st_mode) & 0o077:
        return f"{what} has mode {stat.S_IMODE(st.st_mode):04o}; it must be {mode:04o}"
    return None


def load() -> tuple[list[str], str]:
    """(allowed bind prefixes, where they come from or why there are none)."""
    directory = os.path.expanduser(POLICY_DIR)
    path = os.path.join(directory, POLICY_FILE)
    shown = "~/.berth/policy.json"
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return [], f"there is no {shown}, so no host path may be bind-mounted"
    except OSError as e:
        return [], f"~/.berth cannot be read ({e.strerror}), so no host path may be bind-mounted"
    if not stat.S_ISDIR(st.st_mode):
        return [], "~/.berth is not a directory, so the policy is not trusted"
    problem = _untrusted("~/.berth", st, 0o700)
    if problem:
        return [], f"{problem}, so {shown} is not trusted and no host path may be bind-mounted"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return [], f"there is no {shown}, so no host path may be bind-mounted"
    except OSError as e:
        return [], f"{shown} cannot be opened ({e.strerror}): it must be a file, not a link"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return [], f"{shown} is not a regular file, so it is not trusted"
        problem = _untrusted(shown, st, 0o600)
        if problem:
            return [], f"{problem}, so it is not trusted and no host path may be bind-mounted"
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    finally:
        os.close(fd)
    prefixes = _parse(raw)
    if prefixes is None:
        return [], f"{shown} is not a valid version {POLICY_VERSION} policy, so it is not trusted"
    return prefixes, f"{shown} allows binds under: {', '.join(prefixes) or 'nothing'}"


def _parse(raw: bytes) -> list[str] | None:
    if len(raw) > MAX_POLICY_BYTES:
        return None
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("version") != POLICY_VERSION:
        return None
    prefixes = doc.get("allowed_bind_prefixes")
    if not isinstance(prefixes, list):
        return None
    out = []
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            return None
        out.append(posixpath.normpath(prefix))
    # A prefix on the deny list grants nothing: binds there are refused anyway.
    return [p for p in out if denied_by(p) is None]


def check_binds(sources: list[tuple[str, str]]) -> None:
    """Refuse the op unless every host path in ``sources`` ((field, path) pairs) is
    outside the deny list and under a prefix the policy file allows, both as written
    and with symlinks on the host resolved (a link under an allowed prefix could
    otherwise point at /)."""
    if not sources:
        return
    prefixes: list[str] | None = None
    reason = ""
    for where, source in sources:
        candidates = [source, os.path.realpath(source)]
        for path in candidates:
            denied = denied_by(path)
            if denied is not None:
                shown = source if path == source else f"{source} (a link to {path})"
                raise PolicyDenied(
                    f"{where} {shown} is on the agent's hard deny list ({denied}): "
                    "no policy allows binding it"
                )
        if prefixes is None:
            prefixes, reason = load()
        for path in candidates:
            if not any(_is_under(path, prefix) for prefix in prefixes):
                shown = source if path == source else f"{source} (a link to {path})"
                raise PolicyDenied(f"{where} {shown} is not allowed on this host: {reason}")


def check_labels(labels: Any, where: str = "args.labels") -> None:
    """containers.run: ``berth.*`` labels are Berth's own (service.deploy sets them)."""
    if not isinstance(labels, dict):
        return
    for key in labels:
        if isinstance(key, str) and key.startswith(RESERVED_LABEL_PREFIX) and key != RUN_KEY_LABEL:
            raise PolicyDenied(
                f"{where} key {key[:100]!r} is reserved: berth.* labels are set by Berth's deploys"
            )
