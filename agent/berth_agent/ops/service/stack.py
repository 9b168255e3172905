"""stack.deploy and stack.remove: a stack's revision (the containers of a Compose file,
turned by the server into one container.run spec per compose service) on this host,
as ONE op, with the Docker SDK alone (no compose binary, no shell).

stack.deploy: pull every image; create the stack's networks and named volumes that are
missing (volumes are never removed by a deploy: they hold the stack's data across
revisions); create and start the new revision's containers in start order (a compose
service after those it depends on), each gated on its health before the next starts;
then the switch: the previous revision's containers are stopped and removed, and so
are the stack's networks the new revision no longer uses. If anything fails or the op
is cancelled, the new containers (and what this deploy created) are removed and the
old ones started again: the host stays on its previous revision.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any, NoReturn

from berth_agent import docker_client, policy
from berth_agent.context import OpContext
from berth_agent.ops import images
from berth_agent.ops.networks import ALIAS_RE, NETWORK_RE
from berth_agent.ops.volumes import VOLUME_RE
from berth_agent.protocol import (
    CONFLICT,
    AgentError,
    InvalidArgument,
)
from berth_agent.validation import check_keys, check_str, opt_int, opt_number, str_dict, str_list

from .args import MAX_REVISION, REVISION_LABEL, Health, service_arg, spec_arg
from .gates import HealthGate
from .lock import service_lock
from .switch import (
    _ACTIVE_STATES,
    Old,
    _describe,
    _is_not_found,
    failure,
    pull_image,
    put_back,
    raise_undone,
    stop_and_remove,
    undo_message,
)

STACK_LABEL = "berth.stack"
COMPONENT_LABEL = "berth.component"
COMPONENT_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
MAX_COMPONENTS = 50
MAX_REPLICAS = 20
DEPLOY_KEYS = frozenset(
    {"stack", "revision", "networks", "volumes", "components", "auth", "health_timeout_s",
     "stop_timeout"}
)  # fmt: skip
COMPONENT_KEYS = frozenset(
    {"name", "spec", "networks", "depends_on", "replicas", "entrypoint", "working_dir"}
)
CONDITIONS = ("service_started", "service_healthy")
# A component without a HEALTHCHECK counts as up once it has kept running this long
# (interval x retries of the docker gate).
UP_INTERVAL_S = 1.0
UP_RETRIES = 3


@dataclass
class Component:
    """One compose service of the revision, checked."""

    name: str
    image: str
    config: dict[str, Any]
    fixed_ports: bool
    check_user: bool
    networks: dict[str, list[str]]
    depends_on: dict[str, str]
    replicas: int


@dataclass
class Plan:
    stack: str
    revision: int
    networks: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, str]]
    components: list[Component]
    auth: dict[str, str] | None
    health: Health
    stop_timeout: int


def _plan(args: dict) -> Plan:
    """The op's arguments, checked (the container policy included) before anything on
    the host changes."""
    check_keys(args, DEPLOY_KEYS)
    stack = service_arg(args, key="stack")
    assert stack is not None
    if "revision" not in args:
        raise InvalidArgument("args.revision is required: an integer >= 1")
    revision = opt_int(args, "revision", None, 1, MAX_REVISION)
    assert revision is not None
    networks = _networks(args.get("networks"), stack)
    volumes = _volumes(args.get("volumes"), stack)
    raw = args.get("components")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_COMPONENTS:
        raise InvalidArgument(
            f"args.components must be a list of 1 to {MAX_COMPONENTS} components, in start order"
        )
    components: list[Component] = []
    for index, value in enumerate(raw):
        where = f"args.components[{index}]"
        components.append(_component(value, where, components, networks, volumes))
    auth = images._auth(args["auth"]) if args.get("auth") is not None else None
    timeout_s = opt_number(args, "health_timeout_s", 1, 3600) or 60.0
    health = Health("docker", None, "/", timeout_s, UP_INTERVAL_S, UP_RETRIES)
    stop_timeout = opt_int(args, "stop_timeout", 10, 0, 3600)
    assert stop_timeout is not None
    return Plan(stack, revision, networks, volumes, components, auth, health, stop_timeout)


def _owned(value: Any, stack: str, what: str, keys: set[str]) -> dict[str, dict[str, Any]]:
    """args.networks or args.volumes (``what``): {<stack>_<name>: settings}, each named
    for the stack, its settings ``keys`` only and its labels checked."""
    name_re = NETWORK_RE if what == "networks" else VOLUME_RE
    if not isinstance(value, dict):
        raise InvalidArgument(f"args.{what} must be an object: {{name: {{settings}}}}")
    out = {}
    for name, settings in value.items():
        where = f"args.{what}.{str(name)[:100]}"
        if not (isinstance(name, str) and name_re.match(name) and name.startswith(f"{stack}_")):
            raise InvalidArgument(f"{where}: a stack's {what} are named <stack>_<name>")
        if not isinstance(settings, dict):
            raise InvalidArgument(f"{where} must be an object")
        check_keys(settings, keys, where)
        labels = str_dict(settings.get("labels") or {}, f"{where}.labels")
        policy.check_labels(labels, f"{where}.labels")
        out[name] = {**settings, "labels": labels}
    return out


def _networks(value: Any, stack: str) -> dict[str, dict[str, Any]]:
    networks = _owned(value, stack, "networks", {"internal", "labels"})
    for name, settings in networks.items():
        settings["internal"] = settings.get("internal", False)
        if not isinstance(settings["internal"], bool):
            raise InvalidArgument(f"args.networks.{name}.internal must be true or false")
    return networks


def _volumes(value: Any, stack: str) -> dict[str, dict[str, str]]:
    volumes = _owned(value, stack, "volumes", {"labels"})
    return {name: settings["labels"] for name, settings in volumes.items()}


def _component(
    value: Any,
    where: str,
    before: list[Component],
    networks: dict[str, dict[str, Any]],
    volumes: dict[str, dict[str, str]],
) -> Component:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    check_keys(value, COMPONENT_KEYS, where)
    name = value.get("name")
    if not isinstance(name, str) or not COMPONENT_RE.match(name):
        raise InvalidArgument(f"{where}.name must be a compose service's name (1-63 characters)")
    if any(c.name == name for c in before):
        raise InvalidArgument(f"{where}.name {name!r} is given twice")
    spec = value.get("spec")
    if isinstance(spec, dict) and "network_mode" in spec:
        raise InvalidArgument(f"{where}.spec.network_mode is not allowed: the stack's networks")
    image, config, fixed, check_user = spec_arg(spec, f"{where}.spec")
    for index, mount in enumerate((spec or {}).get("volumes") or []):
        source = mount.get("source", "") if isinstance(mount, dict) else ""
        if not source.startswith("/") and source not in volumes:
            raise InvalidArgument(
                f"{where}.spec.volumes[{index}].source {source[:100]!r} is not one of "
                "args.volumes: a stack's containers mount its own named volumes"
            )
    joined = value.get("networks")
    if not isinstance(joined, dict) or not joined:
        raise InvalidArgument(f"{where}.networks must be an object: {{network: [aliases]}}")
    component_networks = {}
    for network, aliases in joined.items():
        if network not in networks:
            raise InvalidArgument(f"{where}.networks.{str(network)[:100]} is not in args.networks")
        aliases = str_list(aliases, f"{where}.networks.{network}", 32)
        if any(not ALIAS_RE.match(alias) for alias in aliases):
            raise InvalidArgument(f"{where}.networks.{network}: aliases are host names")
        component_networks[network] = aliases
    depends_on = value.get("depends_on") or {}
    if not isinstance(depends_on, dict):
        raise InvalidArgument(f"{where}.depends_on must be an object: {{component: condition}}")
    for other, condition in depends_on.items():
        if not any(c.name == other for c in before):
            raise InvalidArgument(
                f"{where}.depends_on.{str(other)[:100]} is not a component before this one"
            )
        if condition not in CONDITIONS:
            raise InvalidArgument(
                f"{where}.depends_on.{other} must be service_started or service_healthy"
            )
    replicas = opt_int(value, "replicas", 1, 1, MAX_REPLICAS, where)
    assert replicas is not None
    if "entrypoint" in value:
        config["Entrypoint"] = str_list(value["entrypoint"], f"{where}.entrypoint")
    if "working_dir" in value:
        working_dir = check_str(value["working_dir"], f"{where}.working_dir")
        if not working_dir.startswith("/"):
            raise InvalidArgument(f"{where}.working_dir must be an absolute path")
        config["WorkingDir"] = working_dir
    return Component(
        name, image, config, fixed, check_user, component_networks, dict(depends_on), replicas
    )


@dataclass
class StackOld(Old):
    component: str = ""


@dataclass
class New:
    id: str
    name: str
    component: str


@dataclass
class StackDeploy:
    """One deploy of one stack revision on this host; undone on any failure."""

    ctx: OpContext
    plan: Plan
    api: Any = field(default_factory=docker_client.api)
    created: list[New] = field(default_factory=list)
    stopped: list[Old] = field(default_factory=list)
    created_networks: list[str] = field(default_factory=list)
    created_volumes: list[str] = field(default_factory=list)
    step_name: str = "pulling"

    def step(self, step: str, message: str) -> None:
        self.step_name = step
        self.ctx.progress({"step": step, "message": message})

    def run(self) -> dict[str, Any]:
        digests = self.pull()
        olds = _olds(self.api, self.plan.stack)
        with self.ctx.finish_on_eof():  # from here on the host changes: never abandon
            try:
                health = self.switch(olds)
            except BaseException as e:  # undo on anything, then re-raise
                self.undo(e)
                raise  # undo() raises; this is for the type checker
            warnings = self.clean_up(olds)
        return {
            "containers": [
                {"id": n.id, "name": n.name, "component": n.component} for n in self.created
            ],
            "digests": digests,
            "replaced": [o.id for o in olds],
            "networks": sorted(self.plan.networks),
            "volumes": sorted(self.plan.volumes),
            "health": health,
            "warnings": warnings,
        }

    # 1. pull, and the policy's look at each image's own user

    def pull(self) -> dict[str, str | None]:
        pulled: dict[str, str | None] = {}
        for component in self.plan.components:
            if component.image not in pulled:
                _, pulled[component.image] = pull_image(
                    self.ctx, self.api, component.image, self.plan.auth, self.step
                )
                self.ctx.check_cancelled()
            if component.check_user:
                policy.check_image_user(
                    self.api, component.image, f"args.components.{component.name}.spec"
                )
        return {c.name: pulled[c.image] for c in self.plan.components}

    # 2. networks and volumes, then each component in start order, gated

    def switch(self, olds: list[StackOld]) -> str:
        self.make_networks()
        self.make_volumes()
        results = []
        for component in self.plan.components:
            results += self.start(component, olds)
        self.step(
            "switching",
            f"{len(self.created)} container(s) are up; stack {self.plan.stack} is now at "
            f"revision {self.plan.revision}",
        )
        return "healthy" if all(r == "healthy" for r in results) else "running"

    def make_networks(self) -> None:
        for name, settings in self.plan.networks.items():
            existing = _find(self.api.networks(names=[name]), name)
            if existing is not None:
                self._check_ours("network", name, existing.get("Labels"))
                continue
            self.step("creating", f"creating network {name}")
            labels = {**settings["labels"], STACK_LABEL: self.plan.stack}
            self.api.create_network(
                name, driver="bridge", internal=settings["internal"], labels=labels
            )
            self.created_networks.append(name)

    def make_volumes(self) -> None:
        for name, labels in self.plan.volumes.items():
            existing = (self.api.volumes(filters={"name": name}) or {}).get("Volumes") or []
            found = _find(existing, name)
            if found is not None:
                self._check_ours("volume", name, found.get("Labels"))
                continue  # kept across revisions: it holds the stack's data
            self.step("creating", f"creating volume {name}")
            labels = {**labels, STACK_LABEL: self.plan.stack}
            self.api.create_volume(name, driver="local", labels=labels)
            self.created_volumes.append(name)

    def _check_ours(self, what: str, name: str, labels: dict[str, str] | None) -> None:
        if (labels or {}).get(STACK_LABEL) != self.plan.stack:
            raise AgentError(
                CONFLICT,
                f"a {what} named {name} exists on this host and is not stack "
                f"{self.plan.stack}'s: remove or rename it first",
            )

    def start(self, component: Component, olds: list[StackOld]) -> list[str]:
        plan = self.plan
        if component.fixed_ports:
            # Its host ports are the old containers': they must stop first.
            mine = [o for o in olds if o.state in _ACTIVE_STATES and o.component == component.name]
            if mine:
                names = ", ".join(o.name for o in mine)
                self.step("starting", f"stopping {names} first: it publishes fixed host ports")
            for old in mine:
                self.stopped.append(old)  # before the stop: a half-done stop is undone too
                self.api.stop(old.id, timeout=plan.stop_timeout)
        started = []
        for _ in range(component.replicas):
            name = f"{plan.stack}-{component.name}-r{plan.revision}-{secrets.token_hex(3)}"
            self.step("creating", f"creating {name} from {component.image}")
            networks = list(component.networks.items())
            first, aliases = networks[0]
            labels = dict(component.config.get("Labels") or {})
            labels.update(
                {STACK_LABEL: plan.stack, REVISION_LABEL: str(plan.revision),
                 COMPONENT_LABEL: component.name}
            )  # fmt: skip
            config = {
                **component.config,
                "Labels": labels,
                "HostConfig": {**component.config["HostConfig"], "NetworkMode": first},
                "NetworkingConfig": {"EndpointsConfig": {first: {"Aliases": aliases}}},
            }
            created = self.api.create_container_from_config(config, name=name)
            self.created.append(New(created["Id"], name, component.name))
            for network, more in networks[1:]:
                self.api.connect_container_to_network(created["Id"], network, aliases=more)
            self.ctx.check_cancelled()
            self.step("starting", f"starting {name}")
            self.api.start(created["Id"])
            started.append(self.created[-1])
            self.ctx.check_cancelled()
        results = []
        for new in started:
            self.step("health-checking", f"waiting for {new.name} to be up (its health check)")
            results.append(HealthGate(self.ctx, self.api, new.id, new.name, plan.health).wait())
        return results

    # failure: undo

    def undo(self, exc: BaseException) -> NoReturn:
        """Put the host back as it was, then raise the (translated) failure."""
        plan = self.plan
        what = f"stack.deploy of {plan.stack} revision {plan.revision}"
        error = failure(self.ctx, exc, what, self.step_name)
        news = [(n.id, n.name) for n in self.created]
        self.step("rolling-back", undo_message(error, news, self.stopped))
        problems = put_back(self.api, news, self.stopped)
        # What this deploy created is empty and unused now: it goes too.
        for network in self.created_networks:
            try:
                self.api.remove_network(network)
            except Exception as e:
                problems.append(f"could not remove network {network}: {_describe(e)}")
        for volume in self.created_volumes:
            try:
                self.api.remove_volume(volume)
            except Exception as e:
                problems.append(f"could not remove volume {volume}: {_describe(e)}")
        raise_undone(exc, error, problems)

    # 3. success: the old revision goes, and the networks it alone used

    def clean_up(self, olds: list[StackOld]) -> list[str]:
        warnings = []
        if olds:
            self.step("cleaning-up", "stopping and removing " + ", ".join(o.name for o in olds))
            warnings += stop_and_remove(self.api, list(olds), self.plan.stop_timeout)
        unused = [
            n["Name"] for n in stack_networks(self.api, self.plan.stack)
            if n["Name"] not in self.plan.networks
        ]  # fmt: skip
        warnings += remove_networks(self.api, unused)
        return warnings


def _find(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The item named exactly ``name`` (the engine's name filters match substrings)."""
    return next((item for item in items or [] if item.get("Name") == name), None)


def stack_containers(api: Any, stack: str) -> list[dict[str, Any]]:
    return api.containers(all=True, filters={"label": f"{STACK_LABEL}={stack}"})


def stack_networks(api: Any, stack: str) -> list[dict[str, Any]]:
    return api.networks(filters={"label": f"{STACK_LABEL}={stack}"}) or []


def remove_networks(api: Any, names: list[str]) -> list[str]:
    warnings = []
    for name in names:
        try:
            api.remove_network(name)
        except Exception as e:  # the switch is done; report, go on
            if not _is_not_found(e):
                warnings.append(f"could not remove network {name}: {_describe(e)}")
    return warnings


def _olds(api: Any, stack: str) -> list[StackOld]:
    return [
        StackOld(
            c["Id"],
            ((c.get("Names") or ["/?"])[0]).lstrip("/"),
            c.get("State") or "",
            (c.get("Labels") or {}).get(COMPONENT_LABEL, ""),
        )
        for c in stack_containers(api, stack)
    ]


def _lock_key(stack: str) -> str:
    # Its own lock file: a stack and a service never wait for each other.
    return f"stack:{stack}"


def deploy(ctx: OpContext, args: dict) -> dict[str, Any]:
    plan = _plan(args)
    with service_lock(ctx, _lock_key(plan.stack)):
        return StackDeploy(ctx, plan).run()


def remove(ctx: OpContext, args: dict) -> dict[str, Any]:
    """Remove a stack's containers and networks from this host. Its named volumes stay:
    they hold its data (remove them with volume.remove)."""
    check_keys(args, {"stack", "stop_timeout"})
    stack = service_arg(args, key="stack")
    assert stack is not None
    stop_timeout = opt_int(args, "stop_timeout", 10, 0, 3600)
    assert stop_timeout is not None
    api = docker_client.api()
    with service_lock(ctx, _lock_key(stack)), ctx.finish_on_eof():
        olds = _olds(api, stack)
        warnings = stop_and_remove(api, list(olds), stop_timeout)
        networks = [n["Name"] for n in stack_networks(api, stack)]
        warnings += remove_networks(api, networks)
        if warnings:
            raise AgentError("docker_error", "; ".join(warnings))
    return {"removed": [o.id for o in olds], "networks": networks}
