"""Checks of a container spec's words, the same ones the agent applies on the host,
so bad input is refused with a 400 before anything is queued. (Image references are
checked by ``images.validators.parse_image_ref``, one grammar for all of Berth.)"""

from __future__ import annotations

import posixpath
import re

CONTAINER_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,127}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$")


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
