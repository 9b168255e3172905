"""The host's container security policy, enforced by the agent itself.

Berth writes ``~/.berth/policy.json`` (``{"version": 2, "allowed_bind_prefixes": [...],
"allow_privileged": false, ..., "granted_specs": [...]}``); the agent reads it before
every op that creates a container, so a forged request or a bug on the server still
cannot bind what the host's policy does not allow, nor ask for privileged mode, host
namespaces, capabilities, devices, unconfined security options, sysctls or (when the
policy says so) root. ``granted_specs`` lists the SHA-256 digests of exact specs an
admin overrode the policy for; such a spec passes the policy, never the deny list.

The file is trusted only if it and ``~/.berth`` belong to the agent's user and no one
else can write (or read) them: otherwise, or when it is missing or unreadable, the
policy is empty: no host path may be bind-mounted, every toggle is off but running as
root (the server's default too), nothing is granted. The hard deny list below is
refused whatever the file says. This module imports nothing from Berth: the lists
are kept in step with policies/ on the server by hand (tests check they agree).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

from berth_agent.protocol import POLICY_DENIED, AgentError

POLICY_DIR = os.path.join("~", ".berth")
POLICY_FILE = "policy.json"
# Version 2 adds the toggles and the granted specs; a version 1 file (binds only) is
# still read, with every toggle at its default, until Berth rewrites it.
POLICY_VERSIONS = (1, 2)
MAX_POLICY_BYTES = 2 * 1024 * 1024
MAX_GRANTS = 10000
# What a spec may ask only when the policy allows it (the server's list is
# policies.services.TOGGLES); all off by default except running as root.
TOGGLES = (
    "allow_privileged",
    "allow_cap_add",
    "allow_devices",
    "allow_host_network",
    "allow_host_pid",
    "allow_host_ipc",
    "allow_host_userns",
    "allow_unconfined",
    "allow_sysctls",
    "allow_root_user",
)
DEFAULTS = {toggle: toggle == "allow_root_user" for toggle in TOGGLES}
# security_opt entries that turn a confinement off.
UNCONFINED_OPTS = frozenset(
    {
        "apparmor=unconfined",
        "apparmor:unconfined",
        "seccomp=unconfined",
        "seccomp:unconfined",
        "label=disable",
        "label:disable",
        "systempaths=unconfined",
    }
)
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
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
# Labels Berth's own deploys set (service.deploy adds them itself); a container.run
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


class Policy:
    """What ~/.berth/policy.json allows: bind prefixes, the toggles, the granted specs."""

    def __init__(
        self,
        prefixes: List[str],
        allows: Dict[str, bool],
        granted: FrozenSet[str],
        reason: str = "",
    ) -> None:
        self.prefixes = prefixes
        self.allows = allows
        self.granted = granted
        self.reason = reason  # what the binds allowed are, or why there are none
        self.source = reason  # where the toggles come from, or why they are the defaults


def _nothing(reason: str) -> Policy:
    """Missing or untrusted: no host binds, every toggle at its default, no grants."""
    return Policy([], dict(DEFAULTS), frozenset(), reason)


def load() -> Policy:
    """The host's policy, and where it comes from or why there is none."""
    directory = os.path.expanduser(POLICY_DIR)
    path = os.path.join(directory, POLICY_FILE)
    shown = "~/.berth/policy.json"
    nothing = "so no host path may be bind-mounted and no setting beyond the defaults is allowed"
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return _nothing(f"there is no {shown}, {nothing}")
    except OSError as e:
        return _nothing(f"~/.berth cannot be read ({e.strerror}), {nothing}")
    if not stat.S_ISDIR(st.st_mode):
        return _nothing(f"~/.berth is not a directory, so the policy is not trusted, {nothing}")
    problem = _untrusted("~/.berth", st, 0o700)
    if problem:
        return _nothing(f"{problem}, so {shown} is not trusted, {nothing}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return _nothing(f"there is no {shown}, {nothing}")
    except OSError as e:
        return _nothing(f"{shown} cannot be opened ({e.strerror}): it must be a file, not a link")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return _nothing(f"{shown} is not a regular file, so it is not trusted, {nothing}")
        problem = _untrusted(shown, st, 0o600)
        if problem:
            return _nothing(f"{problem}, so it is not trusted, {nothing}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    finally:
        os.close(fd)
    policy = _parse(raw)
    if policy is None:
        return _nothing(f"{shown} is not a valid policy (version 1 or 2), so it is not trusted")
    policy.reason = f"{shown} allows binds under: {', '.join(policy.prefixes) or 'nothing'}"
    policy.source = f"it is off in {shown}"
    return policy


def _parse(raw: bytes) -> Optional[Policy]:
    """A policy file's content, or None if anything in it is not as Berth writes it.
    Version 1 holds the bind prefixes only (every toggle at its default); version 2
    adds each toggle (a missing one is at its default) and ``granted_specs``."""
    if len(raw) > MAX_POLICY_BYTES:
        return None
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("version") not in POLICY_VERSIONS:
        return None
    known = {"version", "allowed_bind_prefixes"}
    if doc["version"] >= 2:
        known |= {"granted_specs", *TOGGLES}
    if set(doc) - known:
        return None
    prefixes = doc.get("allowed_bind_prefixes")
    if not isinstance(prefixes, list):
        return None
    out = []
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            return None
        out.append(posixpath.normpath(prefix))
    allows = dict(DEFAULTS)
    for toggle in TOGGLES:
        if toggle in doc:
            if not isinstance(doc[toggle], bool):
                return None
            allows[toggle] = doc[toggle]
    granted = doc.get("granted_specs", [])
    if not isinstance(granted, list) or len(granted) > MAX_GRANTS:
        return None
    if not all(isinstance(d, str) and _DIGEST_RE.match(d) for d in granted):
        return None
    # A prefix on the deny list grants nothing: binds there are refused anyway.
    kept = [p for p in out if denied_by(p) is None]
    return Policy(kept, allows, frozenset(granted))


def spec_digest(spec: Dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a spec without ``env``: what a grant names (the
    server computes it the same way, policies.services.spec_digest)."""
    body = {key: value for key, value in spec.items() if key not in ("env", "env_secrets")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def may_be_root(user: str) -> bool:
    """Anything but a numeric uid other than 0 may be root (a name is looked up in the
    image, where any name can be uid 0)."""
    uid = user.partition(":")[0]
    return not (uid.isascii() and uid.isdigit() and int(uid) != 0)


def _deny_listed(sources: List[Tuple[str, str]]) -> None:
    for where, source in sources:
        for path in (source, os.path.realpath(source)):
            denied = denied_by(path)
            if denied is not None:
                shown = source if path == source else f"{source} (a link to {path})"
                raise PolicyDenied(
                    f"{where} {shown} is on the agent's hard deny list ({denied}): "
                    "no policy allows binding it"
                )


def _asked(spec: Dict[str, Any], where: str) -> List[Tuple[str, str, str]]:
    """(field, toggle, what) for each setting of a validated spec only a toggle allows."""
    asked = []
    if spec.get("privileged"):
        asked.append((f"{where}.privileged", "allow_privileged", "privileged: true"))
    if spec.get("cap_add"):
        asked.append((f"{where}.cap_add", "allow_cap_add", ", ".join(spec["cap_add"])))
    if spec.get("devices"):
        asked.append((f"{where}.devices", "allow_devices", ", ".join(spec["devices"])))
    for key, toggle in (
        ("network_mode", "allow_host_network"),
        ("pid_mode", "allow_host_pid"),
        ("ipc_mode", "allow_host_ipc"),
        ("userns_mode", "allow_host_userns"),
    ):
        if spec.get(key) == "host":
            asked.append((f"{where}.{key}", toggle, '"host"'))
    unconfined = [o for o in spec.get("security_opt") or [] if o in UNCONFINED_OPTS]
    if unconfined:
        asked.append((f"{where}.security_opt", "allow_unconfined", ", ".join(unconfined)))
    if spec.get("sysctls"):
        asked.append((f"{where}.sysctls", "allow_sysctls", ", ".join(sorted(spec["sysctls"]))))
    return asked


def check_spec(spec: Dict[str, Any], where: str = "args") -> bool:
    """Refuse a validated run spec (container.run args, or service.deploy's args.spec)
    that the host's policy does not allow, before anything is created.

    Every host path bound is checked against the hard deny list first, as written and
    with symlinks resolved, whatever the file says. A spec whose digest the file grants
    (an admin's override) skips the rest; otherwise every bind must be under an allowed
    prefix (also after resolving links: one under an allowed prefix could point at /)
    and every setting only a toggle allows must be allowed. Returns True when the policy
    refuses root and the spec names no user: the image's own user must then be checked
    (check_image_user) before the container is created.
    """
    sources = [
        (f"{where}.volumes[{i}].source", v["source"])
        for i, v in enumerate(spec.get("volumes") or [])
        if isinstance(v, dict) and isinstance(v.get("source"), str) and v["source"].startswith("/")
    ]
    _deny_listed(sources)
    asked = _asked(spec, where)
    user = spec.get("user")
    if not sources and not asked and user is not None and not may_be_root(user):
        return False  # nothing the policy governs: no need to read it
    policy = load()
    if spec_digest(spec) in policy.granted:
        return False
    for field, source in sources:
        for path in (source, os.path.realpath(source)):
            if not any(_is_under(path, prefix) for prefix in policy.prefixes):
                shown = source if path == source else f"{source} (a link to {path})"
                raise PolicyDenied(f"{field} {shown} is not allowed on this host: {policy.reason}")
    for field, toggle, what in asked:
        if not policy.allows[toggle]:
            raise PolicyDenied(
                f"{field} ({what}) is not allowed on this host by its policy's {toggle}: "
                f"{policy.source}"
            )
    if policy.allows["allow_root_user"]:
        return False
    if user is None:
        return True
    if may_be_root(user):
        raise PolicyDenied(
            f"{where}.user {user[:100]!r} may be root, and this host's policy refuses root "
            "(allow_root_user is off): give a numeric non-root uid, like 1000"
        )
    return False


def check_image_user(api: Any, image: str, where: str = "args") -> None:
    """The policy refuses root and the spec names no user: the image's own must not be."""
    user = ((api.inspect_image(image) or {}).get("Config") or {}).get("User") or ""
    if may_be_root(user):
        shown = f"runs as {user!r}" if user else "runs as root"
        raise PolicyDenied(
            f"{where}.user is not given and the image {image} {shown}; this host's policy "
            "refuses root (allow_root_user is off): give a numeric non-root user, like 1000"
        )


def check_labels(labels: Any, where: str = "args.labels") -> None:
    """container.run: ``berth.*`` labels are Berth's own (service.deploy sets them)."""
    if not isinstance(labels, dict):
        return
    for key in labels:
        if isinstance(key, str) and key.startswith(RESERVED_LABEL_PREFIX) and key != RUN_KEY_LABEL:
            raise PolicyDenied(
                f"{where} key {key[:100]!r} is reserved: berth.* labels are set by Berth's deploys"
            )
