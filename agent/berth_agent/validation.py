"""Argument validation helpers: every op checks types, ranges, patterns and unknown keys."""

from __future__ import annotations

import re
from typing import Any

from berth_agent.protocol import InvalidArgument

# Container ids (hex, full or prefix) and names ([a-zA-Z0-9][a-zA-Z0-9_.-]+, as dockerd).
CONTAINER_REF_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,127}$")
# Docker image reference grammar (distribution/reference), anchored.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REF_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)
# A repository (registry/path, without tag or digest) and a tag, in the same grammar.
REPOSITORY_RE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(rf"^{_TAG}$")
IMAGE_ID_RE = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")


def valid_image_reference(value: str) -> bool:
    """True for a well-formed, normalized image reference (registry/repo:tag@digest)."""
    if len(value) > 512 or not IMAGE_REF_RE.match(value):
        return False
    first, sep, _ = value.partition("/")
    # As in dockerd, a first component is a registry only with '.', ':' or 'localhost';
    # otherwise it is part of the (lowercase-only) repository path.
    if sep and not ("." in first or ":" in first or first == "localhost"):
        return first == first.lower()
    return True


def check_keys(args: dict, allowed: set[str] | frozenset[str], where: str = "args") -> None:
    """Reject keys outside ``allowed``, naming the first unknown one."""
    unknown = sorted(k for k in args if k not in allowed)
    if unknown:
        raise InvalidArgument(f"unknown argument {where}.{unknown[0]}")


def opt_bool(args: dict, key: str, default: bool, where: str = "args") -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{where}.{key} must be true or false")
    return value


def opt_int(
    args: dict, key: str, default: int | None, lo: int, hi: int, where: str = "args"
) -> int | None:
    value = args.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{where}.{key} must be an integer")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{where}.{key} must be between {lo} and {hi}")
    return value


def opt_number(args: dict, key: str, lo: float, hi: float, where: str = "args") -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{where}.{key} must be a number")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{where}.{key} must be between {lo} and {hi}")
    return float(value)


def check_str(value: Any, what: str, max_len: int = 4096, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string")
    if not value and not allow_empty:
        raise InvalidArgument(f"{what} must not be empty")
    if len(value) > max_len:
        raise InvalidArgument(f"{what} is longer than {max_len} characters")
    if "\x00" in value:
        raise InvalidArgument(f"{what} must not contain NUL characters")
    return value


def container_ref(args: dict, key: str = "id") -> str:
    """The container an op acts on: a (possibly short) id or a name."""
    value = args.get(key)
    if value is None:
        raise InvalidArgument(f"args.{key} is required: a container id or name")
    if not isinstance(value, str) or not CONTAINER_REF_RE.match(value):
        raise InvalidArgument(f"args.{key} is not a valid container id or name")
    return value.lstrip("/")


def image_ref(args: dict, key: str = "id") -> str:
    """An image id (sha256:..., full or short) or a reference like registry/repo:tag."""
    value = args.get(key)
    if value is None:
        raise InvalidArgument(f"args.{key} is required: an image id or reference")
    if not isinstance(value, str) or len(value) > 512:
        raise InvalidArgument(f"args.{key} must be a string of at most 512 characters")
    if IMAGE_ID_RE.match(value) or valid_image_reference(value):
        return value
    raise InvalidArgument(f"args.{key} {value[:100]!r} is not a valid image id or reference")


def str_dict(value: Any, what: str, key_re: re.Pattern[str] | None = None) -> dict[str, str]:
    """A JSON object of string to string (env, labels)."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be an object of strings")
    if len(value) > 1000:
        raise InvalidArgument(f"{what} has more than 1000 entries")
    out: dict[str, str] = {}
    for k, v in value.items():
        check_str(k, f"{what} key", 256)
        if key_re is not None and not key_re.match(k):
            raise InvalidArgument(f"{what} key {k[:100]!r} is not allowed")
        out[k] = check_str(v, f"{what}[{k[:100]!r}]", 65536, allow_empty=True)
    return out


def str_list(value: Any, what: str, max_items: int = 256) -> list[str]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{what} must be a list of strings")
    if len(value) > max_items:
        raise InvalidArgument(f"{what} has more than {max_items} items")
    return [check_str(v, f"{what}[{i}]", 65536, allow_empty=True) for i, v in enumerate(value)]
