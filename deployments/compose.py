"""Stacks: a Compose file as a service's revision.

A stack revision is checked three times before it is stored, each time naming the key
that is wrong (``services.web.cap_add``):

1. it is YAML (safely loaded: no tags, no objects) holding a mapping;
2. it is valid against the Compose Specification's own JSON schema
   (compose_schema/compose-spec.json, validated with ``jsonschema``);
3. it uses only what Berth supports (SERVICE_KEYS and the rest below): anything else
   is refused, never silently dropped, and each compose service, turned into the
   container spec of a single-container service (:func:`container_spec`), passes the
   same checks as one (the container.run serializer, then the container security
   policy in ``deployments.services``).

:func:`agent_plan` turns a stored document into the arguments of the agent's
``stack.deploy``: networks and named volumes prefixed with the stack's name, one
container spec per compose service, its start order and replicas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import validators
from jsonschema.exceptions import best_match

from containers.api.serializers import CommandField, ContainerRunSerializer

SCHEMA_FILE = Path(__file__).with_name("compose_schema") / "compose-spec.json"
# A compose file is text someone pasted; past this it is not one.
MAX_COMPOSE_CHARS = 256 * 1024
# The document once parsed, as JSON: YAML aliases could otherwise make a small file huge.
MAX_DOCUMENT_CHARS = 1024 * 1024
MAX_SERVICES = 50
MAX_REPLICAS = 20

TOP_KEYS = frozenset({"version", "services", "networks", "volumes"})
SERVICE_KEYS = frozenset(
    {
        "image", "command", "entrypoint", "environment", "x-berth-env-secrets", "ports",
        "volumes", "networks", "healthcheck", "depends_on", "restart", "labels", "user",
        "working_dir", "deploy", "mem_limit", "cpus",
    }
)  # fmt: skip
HEALTHCHECK_KEYS = frozenset({"test", "interval", "timeout", "retries", "start_period", "disable"})
DEPENDS_ON_KEYS = frozenset({"condition"})
CONDITIONS = ("service_started", "service_healthy")
DEPLOY_KEYS = frozenset({"replicas", "resources"})
RESOURCES_KEYS = frozenset({"limits"})
LIMITS_KEYS = frozenset({"cpus", "memory"})
PORT_KEYS = frozenset({"target", "published", "host_ip", "protocol"})
VOLUME_KEYS = frozenset({"type", "source", "target", "read_only"})
SERVICE_NETWORK_KEYS = frozenset({"aliases"})
NETWORK_KEYS = frozenset({"driver", "internal", "labels"})
TOP_VOLUME_KEYS = frozenset({"labels"})
# The container spec's fields, and the compose key each comes from (for messages).
SPEC_KEYS = {
    "image": "image",
    "command": "command",
    "env": "environment",
    "env_secrets": "x-berth-env-secrets",
    "ports": "ports",
    "volumes": "volumes",
    "restart_policy": "restart",
    "labels": "labels",
    "healthcheck": "healthcheck",
    "limits": "deploy.resources.limits",
    "user": "user",
}
DEFAULT_NETWORK = "default"
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ComposeInvalid(ValueError):
    """The compose document is not one Berth can deploy; ``path`` names the key."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The file names its draft as "http://json-schema.org/draft/2019-09/schema#", which
    # jsonschema does not look up by that spelling: say which draft it is.
    return validators.Draft201909Validator(schema)


def parse(text: str) -> dict[str, Any]:
    """The compose document in ``text``, checked (1-3 above, all but the container
    security policy, which depends on the hosts). Raises ComposeInvalid."""
    if len(text) > MAX_COMPOSE_CHARS:
        raise ComposeInvalid("compose", f"is over {MAX_COMPOSE_CHARS // 1024} KiB")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ComposeInvalid("compose", f"is not valid YAML{line}: {problem}") from None
    if not isinstance(document, dict):
        raise ComposeInvalid("compose", "must be a mapping with a services key")
    try:
        size = len(json.dumps(document))
    except (TypeError, ValueError):
        # Dates, binary, non-string keys: nothing the Compose Specification has.
        raise ComposeInvalid("compose", "holds values that are not JSON (dates, binary)") from None
    if size > MAX_DOCUMENT_CHARS:
        raise ComposeInvalid("compose", "expands to over 1 MiB (YAML aliases)")
    check_document(document)
    return document


def check_document(document: dict[str, Any]) -> None:
    """Checks 2 and 3 of a parsed document. Raises ComposeInvalid."""
    error = best_match(_validator().iter_errors(document))
    if error is not None:
        parts = [str(part) for part in error.absolute_path]
        message = f"{_short(error.message)} (Compose Specification)"
        unknown = _unknown_key(error)
        if unknown is not None:
            parts.append(unknown)
            message = "is not a key of the Compose Specification"
        raise ComposeInvalid(".".join(parts) or "compose", message)
    _only(document, TOP_KEYS, "", extensions=True)
    services = document.get("services") or {}
    if not services:
        raise ComposeInvalid("services", "name at least one service")
    if len(services) > MAX_SERVICES:
        raise ComposeInvalid("services", f"at most {MAX_SERVICES} services")
    networks = document.get("networks") or {}
    for name, network in networks.items():
        _only(network or {}, NETWORK_KEYS, f"networks.{name}")
        if (network or {}).get("driver", "bridge") != "bridge":
            raise ComposeInvalid(f"networks.{name}.driver", "only bridge networks are supported")
    for name, volume in (document.get("volumes") or {}).items():
        _only(volume or {}, TOP_VOLUME_KEYS, f"volumes.{name}")
    for name, service in services.items():
        _check_service(document, name, service)
    start_order(document)  # refuses unknown dependencies and cycles


def _check_service(document: dict[str, Any], name: str, service: dict[str, Any]) -> None:
    where = f"services.{name}"
    _only(service, SERVICE_KEYS, where)
    if "image" not in service:
        raise ComposeInvalid(f"{where}.image", "is required: Berth deploys images, it builds none")
    _only(service.get("healthcheck") or {}, HEALTHCHECK_KEYS, f"{where}.healthcheck")
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, dict):
        for other, how in depends_on.items():
            _only(how or {}, DEPENDS_ON_KEYS, f"{where}.depends_on.{other}")
            condition = (how or {}).get("condition", "service_started")
            if condition not in CONDITIONS:
                raise ComposeInvalid(
                    f"{where}.depends_on.{other}.condition",
                    "only service_started and service_healthy are supported",
                )
    deploy = service.get("deploy") or {}
    _only(deploy, DEPLOY_KEYS, f"{where}.deploy")
    resources = deploy.get("resources") or {}
    _only(resources, RESOURCES_KEYS, f"{where}.deploy.resources")
    _only(resources.get("limits") or {}, LIMITS_KEYS, f"{where}.deploy.resources.limits")
    replicas = deploy.get("replicas", 1)
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ComposeInvalid(f"{where}.deploy.replicas", f"must be 1 to {MAX_REPLICAS}")
    for index, port in enumerate(service.get("ports") or []):
        if isinstance(port, dict):
            _only(port, PORT_KEYS, f"{where}.ports[{index}]")
            if replicas > 1 and port.get("published"):
                raise ComposeInvalid(
                    f"{where}.ports[{index}]",
                    "a fixed host port can be published by one replica only",
                )
        elif replicas > 1 and ":" in str(port):
            raise ComposeInvalid(
                f"{where}.ports[{index}]", "a fixed host port can be published by one replica only"
            )
    declared_volumes = document.get("volumes") or {}
    for index, volume in enumerate(service.get("volumes") or []):
        at = f"{where}.volumes[{index}]"
        if isinstance(volume, dict):
            _only(volume, VOLUME_KEYS, at)
            if volume.get("type", "volume") not in ("volume", "bind"):
                raise ComposeInvalid(f"{at}.type", "only volume and bind mounts are supported")
            source = volume.get("source")
        else:
            source = volume.split(":", 1)[0] if ":" in volume else None
        if source is None:
            raise ComposeInvalid(at, "give a source: a named volume or an absolute host path")
        if not source.startswith("/") and source not in declared_volumes:
            if source.startswith((".", "~")):
                raise ComposeInvalid(at, f"{source}: give an absolute host path, not a relative")
            raise ComposeInvalid(at, f"volume {source!r} is not declared in the top-level volumes")
    networks = service.get("networks") or {}
    declared_networks = document.get("networks") or {}
    for network in networks:
        if network != DEFAULT_NETWORK and network not in declared_networks:
            raise ComposeInvalid(
                f"{where}.networks.{network}", "is not declared under the top-level networks"
            )
        if isinstance(networks, dict):
            _only(networks[network] or {}, SERVICE_NETWORK_KEYS, f"{where}.networks.{network}")


def _only(
    mapping: dict[str, Any], allowed: frozenset[str], where: str, *, extensions: bool = False
) -> None:
    """Refuse the first key of ``mapping`` that Berth does not support."""
    for key in mapping:
        if key in allowed or (extensions and key.startswith("x-")):
            continue
        path = f"{where}.{key}" if where else key
        raise ComposeInvalid(path, "is not supported in stacks (docs/stacks.md lists what is)")


def _unknown_key(error: Any) -> str | None:
    """The key an ``additionalProperties`` error is about, so the path can name it."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return None
    known = error.schema.get("properties") or {}
    patterns = [re.compile(p) for p in error.schema.get("patternProperties") or {}]
    for key in error.instance:
        if key not in known and not any(p.search(key) for p in patterns):
            return str(key)
    return None


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."


def start_order(document: dict[str, Any]) -> list[str]:
    """The compose services, each after those it depends on; refuses cycles."""
    services = document.get("services") or {}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in order:
            return
        if name in visiting:
            raise ComposeInvalid(
                f"services.{path[0]}.depends_on", "is a cycle: " + " -> ".join([*path, name])
            )
        visiting.add(name)
        for other in depends_on(services[name]):
            if other not in services:
                raise ComposeInvalid(
                    f"services.{name}.depends_on.{other}", "names no service of this file"
                )
            visit(other, [*path, name])
        visiting.discard(name)
        order.append(name)

    for name in sorted(services):
        visit(name, [])
    return order


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """{service it depends on: condition}."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return {name: "service_started" for name in value}
    return {name: (how or {}).get("condition", "service_started") for name, how in value.items()}


def _seconds(value: Any, where: str) -> float:
    """A compose duration ("1m30s", "500ms", 10) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text or _DURATION_RE.sub("", text):
        raise ComposeInvalid(where, f"{text[:50]!r} is not a duration like 10s, 1m30s or 500ms")
    return sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_RE.findall(text))


def _env(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, list):
        pairs = {}
        for item in value:
            if "=" not in item:
                raise ComposeInvalid(
                    where, f"{item[:100]!r} takes its value from where Compose runs: give K=value"
                )
            key, _, item_value = item.partition("=")
            pairs[key] = item_value
        return pairs
    out = {}
    for key, item in (value or {}).items():
        if item is None:
            raise ComposeInvalid(
                f"{where}.{key}", "takes its value from where Compose runs: give the value"
            )
        out[key] = ("true" if item else "false") if isinstance(item, bool) else str(item)
    return out


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return dict(item.partition("=")[::2] for item in value)
    return {key: "" if item is None else str(item) for key, item in (value or {}).items()}


def _restart(value: str, where: str) -> dict[str, Any]:
    name, _, retries = value.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise ComposeInvalid(where, "give no, always, on-failure[:N] or unless-stopped")
    if retries and (name != "on-failure" or not retries.isdigit()):
        raise ComposeInvalid(where, "only on-failure takes a number of retries, on-failure:3")
    return {"name": name, "max_retries": int(retries or 0)}


def _healthcheck(value: dict[str, Any], where: str) -> dict[str, Any]:
    if value.get("disable"):
        return {"test": ["NONE"]}
    if "test" not in value:
        raise ComposeInvalid(f"{where}.test", "is required (or disable: true)")
    out: dict[str, Any] = {"test": value["test"]}
    for key, to in (("interval", "interval_s"), ("timeout", "timeout_s"),
                    ("start_period", "start_period_s")):  # fmt: skip
        if key in value:
            out[to] = _seconds(value[key], f"{where}.{key}")
    if "retries" in value:
        out["retries"] = int(value["retries"])
    return out


def _limits(service: dict[str, Any]) -> dict[str, Any]:
    limits = dict(((service.get("deploy") or {}).get("resources") or {}).get("limits") or {})
    if "mem_limit" in service:
        limits.setdefault("memory", service["mem_limit"])
    if "cpus" in service:
        limits.setdefault("cpus", service["cpus"])
    if "cpus" in limits:
        try:
            limits["cpus"] = float(limits["cpus"])
        except (TypeError, ValueError):
            raise ComposeInvalid(
                "deploy.resources.limits.cpus", "give a number of CPUs, like 0.5"
            ) from None
    return limits


def container_spec(name: str, service: dict[str, Any]) -> dict[str, Any]:
    """The compose service as the container spec of a single-container service
    (container.run's fields), before the serializer checks it."""
    where = f"services.{name}"
    spec: dict[str, Any] = {"image": service["image"]}
    if "command" in service:
        spec["command"] = service["command"]
    if "environment" in service:
        spec["env"] = _env(service["environment"], f"{where}.environment")
    if "x-berth-env-secrets" in service:
        spec["env_secrets"] = service["x-berth-env-secrets"]
    if "ports" in service:
        spec["ports"] = [_port(port) for port in service["ports"]]
    if "volumes" in service:
        spec["volumes"] = [_volume(volume) for volume in service["volumes"]]
    if "restart" in service:
        spec["restart_policy"] = _restart(service["restart"], f"{where}.restart")
    if "labels" in service:
        spec["labels"] = _labels(service["labels"])
    if "healthcheck" in service:
        spec["healthcheck"] = _healthcheck(service["healthcheck"], f"{where}.healthcheck")
    limits = _limits(service)
    if limits:
        spec["limits"] = limits
    if "user" in service:
        spec["user"] = str(service["user"])
    return spec


def _port(port: Any) -> Any:
    if not isinstance(port, dict):
        return str(port)
    out: dict[str, Any] = {"private": int(port["target"]) if "target" in port else None}
    if port.get("published") is not None:
        out["public"] = int(port["published"])
    if port.get("protocol"):
        out["protocol"] = port["protocol"]
    if port.get("host_ip"):
        out["ip"] = port["host_ip"]
    return out


def _volume(volume: Any) -> Any:
    if not isinstance(volume, dict):
        return volume
    out = {"source": volume.get("source"), "target": volume.get("target")}
    if volume.get("read_only"):
        out["read_only"] = True
    return out


def checked_specs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each compose service's container spec, checked by the container.run serializer
    as a single-container service's spec is. Raises ComposeInvalid naming the key."""
    specs = {}
    for name, service in document["services"].items():
        spec = container_spec(name, service)
        serializer = ContainerRunSerializer(data=spec)
        if not serializer.is_valid():
            raise ComposeInvalid(*_first_error(name, serializer.errors))
        specs[name] = dict(serializer.validated_data)
        if "entrypoint" in service:
            try:
                CommandField().run_validation(service["entrypoint"])
            except Exception as exc:  # a ValidationError, said as one line
                raise ComposeInvalid(f"services.{name}.entrypoint", _message(exc)) from None
        working_dir = service.get("working_dir")
        if working_dir is not None and (not working_dir.startswith("/") or "\x00" in working_dir):
            raise ComposeInvalid(f"services.{name}.working_dir", "must be an absolute path")
    return specs


def _message(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    while isinstance(detail, list | dict) and detail:
        detail = detail[0] if isinstance(detail, list) else next(iter(detail.values()))
    return str(detail or exc)


def _first_error(name: str, errors: Any) -> tuple[str, str]:
    """The serializer's first error, at its compose key: ("services.web.environment.X", why)."""
    key, detail = next(iter(errors.items()))
    path = [SPEC_KEYS.get(key, key)]
    while isinstance(detail, dict | list) and detail:
        if isinstance(detail, dict):
            sub, detail = next(iter(detail.items()))
            if isinstance(sub, int):  # a list field's errors, by index
                path[-1] += f"[{sub}]"
            elif sub != "non_field_errors":
                path.append(str(sub))
        else:
            index = next((i for i, item in enumerate(detail) if item), 0)
            if len(detail) > 1 or isinstance(detail[index], dict | list):
                path[-1] += f"[{index}]"
            detail = detail[index]
    # The serializer's advice names the spec's field; in a compose file it is the extension.
    message = str(detail).replace('"env_secrets"', '"x-berth-env-secrets"')
    return f"services.{name}." + ".".join(path), message


def images(document: dict[str, Any]) -> str:
    """The images a revision names, for its ``image`` column: "web=repo:tag, …"."""
    text = ", ".join(
        f"{name}={service['image']}" for name, service in sorted(document["services"].items())
    )
    return text if len(text) <= 512 else text[:509] + "..."


@dataclass
class Component:
    """One compose service as stack.deploy takes it."""

    name: str
    spec: dict[str, Any]
    networks: dict[str, list[str]]
    depends_on: dict[str, str]
    replicas: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def as_args(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "networks": self.networks,
            "depends_on": self.depends_on,
            "replicas": self.replicas,
            **self.extra,
        }


def components(stack: str, document: dict[str, Any]) -> list[Component]:
    """The stack's compose services in start order, each with its checked container
    spec, its named volumes and networks prefixed with the stack's name."""
    specs = checked_specs(document)
    out = []
    for name in start_order(document):
        service = document["services"][name]
        spec = specs[name]
        if spec.get("volumes"):
            spec["volumes"] = [
                volume if volume["source"].startswith("/")
                else {**volume, "source": f"{stack}_{volume['source']}"}
                for volume in spec["volumes"]
            ]  # fmt: skip
        joined = service.get("networks") or [DEFAULT_NETWORK]
        settings = joined if isinstance(joined, dict) else {}
        networks = {
            f"{stack}_{network}": [name, *((settings.get(network) or {}).get("aliases") or [])]
            for network in joined
        }
        extra: dict[str, Any] = {}
        if "entrypoint" in service:
            extra["entrypoint"] = CommandField().run_validation(service["entrypoint"])
        if "working_dir" in service:
            extra["working_dir"] = service["working_dir"]
        replicas = (service.get("deploy") or {}).get("replicas", 1)
        out.append(Component(name, spec, networks, depends_on(service), replicas, extra))
    return out


def agent_plan(stack: str, document: dict[str, Any]) -> dict[str, Any]:
    """The arguments of stack.deploy for the document (less stack, revision, and the
    secrets each spec names, which the deploy looks up for its host alone)."""
    parts = components(stack, document)
    used = {network for part in parts for network in part.networks}
    declared = document.get("networks") or {}
    networks = {}
    for network in sorted(used):
        short = network[len(stack) + 1 :]
        settings = declared.get(short) or {}
        networks[network] = {
            "internal": bool(settings.get("internal", False)),
            "labels": _labels(settings.get("labels")),
        }
    volumes = {
        f"{stack}_{name}": {"labels": _labels((volume or {}).get("labels"))}
        for name, volume in (document.get("volumes") or {}).items()
    }
    return {
        "networks": networks,
        "volumes": volumes,
        "components": [part.as_args() for part in parts],
    }
