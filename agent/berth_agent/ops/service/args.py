"""The arguments of the service ops, checked before anything on the host changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from berth_agent import policy
from berth_agent.ops import containers
from berth_agent.protocol import InvalidArgument
from berth_agent.validation import check_keys, check_str, opt_int, opt_number, valid_image_reference

SERVICE_LABEL = "berth.service"
REVISION_LABEL = "berth.revision"
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_REVISION = 2**53 - 1
HEALTH_MODES = ("docker", "http", "tcp", "none")
_HTTP_PATH_RE = re.compile(r"^/[\x21-\x7e]{0,2047}$")
# A validation message of container.run names args.X; in a deploy that is args.spec.X.
_ARGS_RE = re.compile(r"(?<![\w.])args\.")
DEPLOY_KEYS = frozenset({"service", "revision", "spec", "auth", "health", "stop_timeout"})


def service_arg(args: dict, required: bool = True, key: str = "service") -> str | None:
    """The service's (or with ``key`` "stack", the stack's) name."""
    value = args.get(key)
    if value is None:
        if required:
            raise InvalidArgument(f"args.{key} is required: the {key} name")
        return None
    if not isinstance(value, str) or not SERVICE_RE.match(value):
        raise InvalidArgument(
            f"args.{key} must be 1-63 characters: lowercase letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class Health:
    mode: str
    port: int | None
    path: str
    timeout_s: float
    interval_s: float
    retries: int


def health_arg(value: Any) -> Health:
    where = "args.health"
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    check_keys(value, {"mode", "port", "path", "timeout_s", "interval_s", "retries"}, where)
    mode = value.get("mode", "docker")
    if mode not in HEALTH_MODES:
        raise InvalidArgument(f"{where}.mode must be docker, http, tcp or none")
    port = opt_int(value, "port", None, 1, 65535, where)
    if mode in ("http", "tcp") and port is None:
        raise InvalidArgument(f"{where}.port is required for mode {mode}: a container port")
    path = value.get("path", "/")
    check_str(path, f"{where}.path", 2048)
    if not _HTTP_PATH_RE.match(path):
        raise InvalidArgument(f"{where}.path must start with '/' and contain no spaces")
    timeout_s = opt_number(value, "timeout_s", 1, 3600, where) or 60.0
    interval_s = opt_number(value, "interval_s", 0.1, 600, where) or 1.0
    retries = opt_int(value, "retries", 3, 1, 10000, where) or 3
    return Health(mode, port, path, timeout_s, interval_s, retries)


def spec_arg(value: Any, where: str = "args.spec") -> tuple[str, dict[str, Any], bool, bool]:
    """(image, engine create body, publishes a fixed host port, the image's own user
    must be checked against the policy) from args.spec (or the spec at ``where``)."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object: a container.run spec without name")
    if "name" in value:
        raise InvalidArgument(
            f"{where}.name is not allowed: the agent names the container "
            "<service>-r<revision>-<random> (a stack's <stack>-<component>-r<revision>-<random>)"
        )
    image = value.get("image")
    if image is None:
        raise InvalidArgument(f"{where}.image is required")
    if not isinstance(image, str) or not valid_image_reference(image):
        raise InvalidArgument(
            f"{where}.image must be an image reference like registry:5000/repo:tag "
            "or registry:5000/repo@sha256:<digest>"
        )
    labels = value.get("labels")
    if isinstance(labels, dict):
        for key in labels:
            if isinstance(key, str) and key.startswith("berth."):
                raise InvalidArgument(
                    f"{where}.labels key {key[:100]!r} is reserved: the agent sets berth.* labels"
                )
    try:
        config, _ = containers.build_create_config(value)
    except InvalidArgument as e:
        raise InvalidArgument(_ARGS_RE.sub(f"{where}.", e.message)) from None
    check_user = policy.check_spec(value, where)
    bindings = config["HostConfig"].get("PortBindings") or {}
    fixed = any(b.get("HostPort") for entries in bindings.values() for b in entries)
    return image, config, fixed, check_user
