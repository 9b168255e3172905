"""Checks of a container spec's words, the same ones the agent applies on the host,
so bad input is refused with a 400 before anything is queued. (Image references are
checked by ``images.validators.parse_image_ref``, one grammar for all of Berth.)"""

from __future__ import annotations

import posixpath
import re

CONTAINER_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,127}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$")
# The spec keys only a container security policy toggle allows (the agent's own
# grammar is the same: agent/berth_agent/ops/containers.py).
CAPABILITY_RE = re.compile(r"^(?:CAP_)?(?!CAP_)[A-Z][A-Z0-9_]{0,63}$")
NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
SECURITY_OPT_RE = re.compile(
    r"^(?:no-new-privileges(?:[:=](?:true|false))?"
    r"|apparmor[:=][A-Za-z0-9_.-]{1,255}"
    r"|seccomp[:=]unconfined"
    r"|label[:=](?:disable|(?:user|role|type|level):[A-Za-z0-9_.:-]{1,255})"
    r"|systempaths=unconfined)$"
)
SYSCTL_RE = re.compile(r"^[a-z][a-z0-9_]*(?:[./][a-zA-Z0-9_-]+){1,15}$")
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$")
DEVICE_PERMISSIONS = frozenset("rwm")


def container_name_problem(value: str) -> str | None:
    if CONTAINER_NAME_RE.match(value):
        return None
    return (
        "A container name is 2-128 characters: letters, digits, '_', '.' and '-', "
        "starting with a letter or digit."
    )


def container_path_problem(value: str) -> str | None:
    """Why ``value`` is not a usable absolute path for a bind mount, or None."""
    if not value.startswith("/") or value.startswith("//"):
        return f"{value[:100]!r} must be an absolute path like /srv/data."
    if ":" in value or "," in value or "\x00" in value:
        return f"{value[:100]!r} must not contain ':' or ','."
    if posixpath.normpath(value) != value:
        return f"{value[:100]!r} is not normalized; write {posixpath.normpath(value)!r}."
    return None


def device_problem(value: str) -> str | None:
    """Why ``value`` is not a device mapping "/dev/host[:/dev/container[:perms]]", or None."""
    parts = value.split(":")
    if len(parts) > 3:
        return 'give "/dev/host", "/dev/host:/dev/container" or "/dev/host:/dev/container:rwm".'
    for path in parts[:2]:
        if (
            not path.startswith("/")
            or path.startswith("//")
            or posixpath.normpath(path) != path
            or "," in path
            or "\x00" in path
        ):
            return f"{path[:100]!r} must be a normalized absolute path like /dev/fuse."
    if len(parts) == 3 and (not parts[2] or not set(parts[2]) <= DEVICE_PERMISSIONS):
        return "permissions are some of r, w and m, like rwm."
    return None
