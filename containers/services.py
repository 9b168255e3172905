"""Containers: what the hosts report, and the operations that change them.

Every action here is an Operation (see ``operations/``): a public function records
and queues it, and the handler registered with ``@action`` runs it on a worker:
it asks the host's agent to act, then re-reads the host's containers so the
database shows the new state at once. Handlers are safe to run twice.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict

from agent_link.errors import AgentError, AgentLinkError
from berth.reconcile import SyncCounts, sync_host_rows
from berth.timeutil import from_unix
from hosts.agent import HostAgent, operation_host
from images.services import credential_for, docker_auth, reconcile_images
from images.validators import parse_image_ref
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, submit, submit_bulk
from policies.services import GRANT_PARAM, spec_digest

from .filtersets import ContainerFilterSet
from .models import Container
from .secrets import MissingSecret, SecretOutOfScope, resolve_env

if TYPE_CHECKING:
    from hosts.models import Host


# Set on every container Berth runs: the run's own key, so a re-run of the same
# operation (its worker was lost) finds the container instead of making another.
RUN_KEY_LABEL = "berth.run"
PULL_TIMEOUT = 600  # seconds an image pull may take
MAX_STOP_TIMEOUT = 600  # seconds a stop/restart may give the container to exit
RUNNING_STATES = {"running", "restarting", "paused"}
# container.diff: paths the result lists at most (the agent counts them all).
DIFF_PATHS = 1000
MAX_DIFF_PATHS = 10000
DIFF_TIMEOUT = 120  # seconds: the engine walks the writable layer, and sizes the root fs
TERMINATING_SIGNALS = {"SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "9", "15", "2", "3"}


def reconcile_containers(host: Any, reported: list[dict[str, Any]]) -> SyncCounts:
    """Store the host's containers exactly as ``container.list`` reported them."""
    rows = {
        item["id"]: {
            "name": item["name"],
            "image": item.get("image") or "",
            "image_id": item.get("image_id") or "",
            "command": item.get("command") or "",
            "state": item.get("state") or "",
            "status": item.get("status") or "",
            "health": item.get("health") or "",
            "labels": item.get("labels") or {},
            "ports": item.get("ports") or [],
            "created": from_unix(item.get("created")),
        }
        for item in reported
    }
    return sync_host_rows(Container, host=host, key_field="container_id", reported=rows)


# --- public service functions: record and queue -----------------------------------------


def _identity(container: Container) -> dict[str, str]:
    """What a container action's handler needs to find the container on its host."""
    return {"container_id": container.container_id, "name": container.name}


def _submit(action_name: str, container: Container, actor: Actor, **params: Any) -> Operation:
    return submit(
        action=action_name,
        target=container,
        actor=actor,
        host=container.host,
        params={**_identity(container), **params},
    )


BULK_ACTIONS = ("start", "stop", "restart", "kill", "remove")


class InvalidSelection(ValueError):
    """A bulk selection the caller must fix; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def select_containers(
    visible: QuerySet[Container],
    *,
    ids: list[int] | None = None,
    filters: dict[str, str] | None = None,
    everything: bool = False,
) -> tuple[list[Container], str]:
    """The containers a bulk action will act on, and a label that says how they were
    chosen. ``visible`` is what the caller may act on (their scope).

    A selection that is empty, or a filter that picks every visible container, is
    refused unless ``everything`` says so: a typo must never restart the fleet.
    """
    visible = visible.select_related("host")
    if ids is not None:
        if not ids:
            raise InvalidSelection("ids", "Give at least one container id.")
        containers = list(visible.filter(pk__in=ids))
        missing = set(ids) - {container.pk for container in containers}
        if missing:
            raise InvalidSelection("ids", f"no such container: {sorted(missing)}")
        return containers, f"{len(containers)} container(s)"
    if not filters:
        if not everything:
            raise InvalidSelection(
                "filter", 'Choose the containers, or send "all": true for every one.'
            )
        containers = list(visible)
        if not containers:
            raise InvalidSelection("all", "You can see no container to act on.")
        return containers, f"all {len(containers)} container(s)"
    query = QueryDict(mutable=True)
    for key, value in filters.items():
        if key not in ContainerFilterSet.base_filters:
            raise InvalidSelection(f"filter.{key}", "Not a container filter.")
        query.setlist(key, [value])
    selection = ContainerFilterSet(query, queryset=visible)
    if not selection.is_valid():
        field, problems = next(iter(selection.errors.items()))
        raise InvalidSelection(f"filter.{field}", " ".join(problems))
    containers = list(selection.qs)
    label = ", ".join(f"{key}={value}" for key, value in filters.items())
    if not containers:
        raise InvalidSelection("filter", "no container matches this selection")
    if not everything and len(containers) == visible.count():
        raise InvalidSelection(
            "filter",
            f"This filter matches every container you can see ({len(containers)}); "
            'narrow it, or send "all": true to act on all of them.',
        )
    return containers, label


def request_bulk_action(
    containers: Iterable[Container],
    verb: str,
    *,
    actor: Actor,
    label: str,
    **params: Any,
) -> Operation:
    """The same lifecycle action on many containers, across hosts, in parallel: one
    parent operation, one child per container; one failure does not stop the others."""
    if verb not in BULK_ACTIONS:
        raise ValueError(f"{verb} is not one of {', '.join(BULK_ACTIONS)}")
    return submit_bulk(
        action=f"container.{verb}",
        targets=[(container, container.host) for container in containers],
        actor=actor,
        params=params,
        label=label,
        params_for=_identity,
    )


def request_start(container: Container, *, actor: Actor) -> Operation:
    """Start a stopped container; starting a running one succeeds and says so."""
    return _submit("container.start", container, actor)


def request_stop(container: Container, *, actor: Actor, timeout: int = 10) -> Operation:
    """Stop a container, giving it ``timeout`` seconds to exit before it is killed."""
    return _submit("container.stop", container, actor, timeout=timeout)


def request_restart(container: Container, *, actor: Actor, timeout: int = 10) -> Operation:
    return _submit("container.restart", container, actor, timeout=timeout)


def request_kill(container: Container, *, actor: Actor, signal: str = "SIGKILL") -> Operation:
    """Send a signal to a container's main process (SIGKILL unless told otherwise)."""
    return _submit("container.kill", container, actor, signal=signal)


def request_remove(
    container: Container, *, actor: Actor, force: bool = False, volumes: bool = False
) -> Operation:
    """Remove a container (``force``: even a running one; ``volumes``: its anonymous volumes).

    Removing one that is already gone succeeds and says so.
    """
    return _submit("container.remove", container, actor, force=force, volumes=volumes)


def request_logs(
    container: Container,
    *,
    actor: Actor,
    tail: int | str = 200,
    since: float | None = None,
    timestamps: bool = False,
    follow: bool = False,
    duration: int | None = None,
) -> Operation:
    """Read a container's log: the last ``tail`` lines into the result, or, with
    ``follow``, every line into the operation's stream until it is cancelled, the
    container stops or ``duration`` (at most BERTH_LOG_FOLLOW_MAX) seconds pass."""
    params: dict[str, Any] = {"tail": tail, "timestamps": timestamps, "follow": follow}
    if since is not None:
        params["since"] = since
    if follow:
        params["duration"] = min(duration or settings.BERTH_LOG_FOLLOW_MAX, _follow_max())
    return _submit("container.logs", container, actor, **params)


def request_stats(container: Container, *, actor: Actor) -> Operation:
    """A one-shot sample of a container's CPU, memory, network and process count."""
    return _submit("container.stats", container, actor)


def request_diff(container: Container, *, actor: Actor, limit: int = DIFF_PATHS) -> Operation:
    """Read the container's writable layer: its size and the paths it added, changed and
    deleted since it was created (the first ``limit`` by path, and how many in all)."""
    return _submit("container.diff", container, actor, limit=limit)


def request_run(
    host: Host, spec: dict[str, Any], *, actor: Actor, policy_override: bool = False
) -> Operation:
    """Create and start a container on ``host`` from a validated spec (the agent's
    ``container.run`` arguments); the image is pulled first when the host lacks it.

    The spec is recorded exactly as given: its ``env`` holds no secret (the API refuses
    names that look secret) and ``env_secrets`` names the stored secrets, which the
    handler looks up only when it calls the agent."""
    run_key = uuid.uuid4().hex
    return submit(
        action="container.run",
        target=host,
        actor=actor,
        host=host,
        # An admin's override of the container security policy stays on the record, with
        # the grant the host's policy file carries while the run is in flight.
        params={
            "spec": spec,
            "run_key": run_key,
            **(
                {"policy_override": True, GRANT_PARAM: _grant(spec, run_key)}
                if policy_override
                else {}
            ),
        },
    )


def _agent_spec(spec: dict[str, Any], run_key: str) -> dict[str, Any]:
    """The run's spec as the agent receives it (less resolved secrets): with the run key."""
    return {**spec, "labels": {**(spec.get("labels") or {}), RUN_KEY_LABEL: run_key}}


def _grant(spec: dict[str, Any], run_key: str) -> str:
    return spec_digest(_agent_spec(spec, run_key))


def _follow_max() -> int:
    return int(settings.BERTH_LOG_FOLLOW_MAX)


# --- talking to the agent from a handler ---------------------------------------------------


def read_containers(agent: HostAgent, *, timeout: float | None = None) -> list[dict[str, Any]]:
    """Re-read the host's containers and store them; returns what the host reported."""
    reported: list[dict[str, Any]] = agent.call(
        "container.list", {"all": True}, timeout=timeout, cancel=None
    )
    with transaction.atomic():
        reconcile_containers(agent.host, reported)
    return reported


def _state_result(
    params: dict[str, Any], summary: dict[str, Any] | None, changed: bool, message: str
) -> dict[str, Any]:
    return {
        "container": params.get("name", ""),
        "container_id": params["container_id"],
        "state": (summary or {}).get("state") or "",
        "health": (summary or {}).get("health") or "",
        "changed": changed,
        "message": message,
    }


# --- lifecycle ----------------------------------------------------------------------------


def _lifecycle(operation: Operation, context: OperationContext, verb: str) -> dict[str, Any]:
    """Inspect, act unless the container is already where it was asked to be, reconcile."""
    params = operation.params
    host = operation_host(operation)
    agent = HostAgent(host, context)
    ref = params["container_id"]
    name = params.get("name") or ref[:12]
    try:
        before = agent.call("container.inspect", {"id": ref})["summary"]
    except AgentError as exc:
        if exc.code != "not_found":
            raise
        before = None
    if before is None:
        read_containers(agent)
        if verb == "remove":
            result = _state_result(params, None, False, f"{name} was already gone from {host}")
            return {**result, "removed": False}
        raise OperationFailed(f"container {name} no longer exists on {host}")

    state = before.get("state") or ""
    args: dict[str, Any] = {"id": ref}
    timeout = None
    if verb == "start" and state == "running":
        read_containers(agent)
        return _state_result(params, before, False, f"{name} was already running")
    if verb == "stop" and state not in RUNNING_STATES:
        read_containers(agent)
        return _state_result(params, before, False, f"{name} was already stopped ({state})")
    if verb == "kill" and state not in RUNNING_STATES:
        read_containers(agent)
        return _state_result(params, before, False, f"{name} is not running ({state}): no signal")
    if verb in ("stop", "restart"):
        args["timeout"] = int(params.get("timeout", 10))
        timeout = settings.BERTH_AGENT_REQUEST_TIMEOUT + args["timeout"]
    elif verb == "kill":
        args["signal"] = params.get("signal", "SIGKILL")
    elif verb == "remove":
        args["force"] = bool(params.get("force", False))
        args["volumes"] = bool(params.get("volumes", False))

    try:
        after = agent.call(f"container.{verb}", args, timeout=timeout)
    except AgentError as exc:
        if exc.code == "cancelled":
            raise
        read_containers(agent)
        if exc.code == "not_found" and verb == "remove":
            result = _state_result(params, None, False, f"{name} was already gone from {host}")
            return {**result, "removed": False}
        if exc.code == "not_found":
            raise OperationFailed(f"container {name} no longer exists on {host}") from None
        raise OperationFailed(f"could not {verb} {name} on {host}: {exc.message}") from None

    if verb == "remove":
        read_containers(agent)
        return {**_state_result(params, None, True, f"removed {name}"), "removed": True}
    if verb == "kill" and str(args["signal"]).upper() in TERMINATING_SIGNALS:
        after = _wait_until_not_running(agent, ref, after)
    read_containers(agent)
    past = {"start": "started", "stop": "stopped", "restart": "restarted", "kill": "signalled"}
    message = f"{past[verb]} {name}"
    if verb == "kill":
        message = f"sent {args['signal']} to {name}"
    return _state_result(params, after, True, message)


def _wait_until_not_running(agent: HostAgent, ref: str, summary: dict[str, Any]) -> dict[str, Any]:
    """After a terminating signal, give the container a moment to exit (Docker answers
    the kill before the process is gone)."""
    deadline = time.monotonic() + 5
    while summary.get("state") in RUNNING_STATES and time.monotonic() < deadline:
        time.sleep(0.2)
        summary = agent.call("container.inspect", {"id": ref})["summary"]
    return summary


@action("container.start", time_limit=120)
def _start(operation: Operation, context: OperationContext) -> dict[str, Any]:
    return _lifecycle(operation, context, "start")


@action("container.stop", time_limit=MAX_STOP_TIMEOUT + 120)
def _stop(operation: Operation, context: OperationContext) -> dict[str, Any]:
    return _lifecycle(operation, context, "stop")


@action("container.restart", time_limit=MAX_STOP_TIMEOUT + 120)
def _restart(operation: Operation, context: OperationContext) -> dict[str, Any]:
    return _lifecycle(operation, context, "restart")


@action("container.kill", time_limit=120)
def _kill(operation: Operation, context: OperationContext) -> dict[str, Any]:
    return _lifecycle(operation, context, "kill")


@action("container.remove", time_limit=180)
def _remove(operation: Operation, context: OperationContext) -> dict[str, Any]:
    return _lifecycle(operation, context, "remove")


# --- run --------------------------------------------------------------------------------


_BIND_FAILED_RE = re.compile(r"Bind for (?P<address>\S+?):(?P<port>\d+) failed")


def _plain_run_error(exc: AgentError, spec: dict[str, Any], host: Host) -> str:
    """The agent's refusal of a run, in words an operator acts on."""
    message = exc.message
    name = spec.get("name")
    if "already in use" in message and name:
        return f"a container named {name} already exists on {host}: {message}"
    if "port is already allocated" in message or "address already in use" in message:
        match = _BIND_FAILED_RE.search(message)
        port = f"port {match['port']}" if match else "a published port"
        return f"{port} is already allocated on {host}; nothing was left behind: {message}"
    return f"could not run {spec.get('image')} on {host}: {message}"


def _registry_credential(image: str) -> Any:
    """The stored login for the registry ``image`` comes from, if there is one."""
    try:
        return credential_for(parse_image_ref(image))
    except ValueError:
        return None


def _ensure_image(agent: HostAgent, context: OperationContext, image: str) -> bool:
    """Pull ``image`` unless the host has it; returns whether it was pulled."""
    try:
        agent.call("image.inspect", {"id": image})
        return False
    except AgentError as exc:
        if exc.code != "not_found":
            raise
    context.progress(force=True, phase="pulling", image=image)
    args: dict[str, Any] = {"ref": image}
    credential = _registry_credential(image)
    if credential is not None:  # looked up here, in the worker: never in the params
        args["auth"] = docker_auth(credential)

    def on_progress(line: dict[str, Any]) -> None:
        context.stream({"pull": image, **line})
        context.progress(pull=line)

    try:
        agent.call("image.pull", args, timeout=PULL_TIMEOUT, on_progress=on_progress)
    except AgentError as exc:
        if exc.code == "cancelled":
            raise
        raise OperationFailed(f"could not pull {image} on {agent.host}: {exc.message}") from None
    reported = agent.call("image.list", {})
    with transaction.atomic():
        reconcile_images(agent.host, reported)
    return True


def _run_result(summary: dict[str, Any], host: Host, **extra: Any) -> dict[str, Any]:
    row = Container.objects.filter(host=host, container_id=summary.get("id")).first()
    return {
        "container": row.pk if row else None,
        "container_id": summary.get("id"),
        "name": summary.get("name"),
        "image": summary.get("image"),
        "state": summary.get("state"),
        "ports": summary.get("ports") or [],
        **extra,
    }


def _write_policy(host: Host, *, revoked: tuple[str, ...] = ()) -> None:
    """Bring the host's policy file up to date before a container is created, so the
    agent enforces the policy as it is now; for a run an admin overrode, the file also
    grants that run's exact spec while the run is in flight (``revoked`` once it is over)."""
    try:
        HostAgent(host).sync_policy(revoked)
    except (AgentLinkError, OSError) as exc:
        raise OperationFailed(f"could not write the container policy on {host}: {exc}") from None


@action("container.run", time_limit=PULL_TIMEOUT + 120)
def _run(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    grant = operation.params.get(GRANT_PARAM)
    _write_policy(host)
    try:
        return _run_spec(operation, context)
    finally:
        if grant:
            _write_policy(host, revoked=(grant,))


def _run_spec(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    agent = HostAgent(host, context)
    run_key = operation.params["run_key"]
    spec = _agent_spec(operation.params["spec"], run_key)

    # A re-run of this operation (its worker was lost) finds what the first run made.
    reported = read_containers(agent)
    done = [c for c in reported if (c.get("labels") or {}).get(RUN_KEY_LABEL) == run_key]
    if done:
        return _run_result(done[0], host, pulled=False, warnings=[], rerun=True)

    pulled = _ensure_image(agent, context, spec["image"])
    context.progress(force=True, phase="starting")
    try:
        # Secret values exist only in this call's arguments: never stored, never logged.
        args = resolve_env(spec, host)
    except (MissingSecret, SecretOutOfScope) as exc:
        raise OperationFailed(
            f"could not run {spec.get('image')} on {host}: {exc.message}"
        ) from None
    try:
        out = agent.call("container.run", args, timeout=settings.BERTH_AGENT_REQUEST_TIMEOUT + 60)
    except AgentError as exc:
        read_containers(agent)
        if exc.code == "cancelled":
            raise
        raise OperationFailed(_plain_run_error(exc, spec, host)) from None
    read_containers(agent)
    context.progress(force=True, phase="done")
    return _run_result(out["summary"], host, pulled=pulled, warnings=out.get("warnings") or [])


# --- logs and stats -----------------------------------------------------------------------


def _log_args(params: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "id": params["container_id"],
        "tail": params.get("tail", 200),
        "timestamps": bool(params.get("timestamps", False)),
        "follow": bool(params.get("follow", False)),
        # The agent keeps the result (or what a follow streams) within this many bytes.
        "max_bytes": int(settings.BERTH_LOG_MAX_BYTES),
    }
    if params.get("since") is not None:
        args["since"] = params["since"]
    return args


def _agent_says_gone(exc: AgentError, params: dict[str, Any], host: Host) -> OperationFailed:
    if exc.code == "not_found":
        return OperationFailed(f"container {params.get('name')} no longer exists on {host}")
    return OperationFailed(exc.message)


@action("container.logs", time_limit=_follow_max() + 60, retry_transport=False)
def _logs(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    host = operation_host(operation)
    agent = HostAgent(host, context)
    args = _log_args(params)
    if not args["follow"]:
        try:
            return dict(
                agent.call(
                    "container.logs", args, timeout=settings.BERTH_AGENT_REQUEST_TIMEOUT + 30
                )
            )
        except AgentError as exc:
            if exc.code == "cancelled":
                raise
            raise _agent_says_gone(exc, params, host) from None

    duration = min(int(params.get("duration") or _follow_max()), _follow_max())
    count = 0

    def on_line(entry: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        context.stream(entry)
        context.progress(lines=count)

    try:
        ended = agent.stream("container.logs", args, on_event=on_line, duration=duration)
    except AgentError as exc:
        if exc.code == "cancelled":
            raise
        raise _agent_says_gone(exc, params, host) from None
    if ended is None:
        # The follow ran its full time (the agent has been told to stop): a normal end.
        return {"lines": count, "ended": f"followed for the maximum of {duration} s"}
    if isinstance(ended, dict) and ended.get("truncated"):
        cap = args["max_bytes"]
        return {"lines": count, "ended": f"stopped at the {cap}-byte cap", "truncated": True}
    return {"lines": count, "ended": "the container stopped"}


@action("container.stats", time_limit=60, retry_transport=False)
def _stats(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    host = operation_host(operation)
    try:
        return dict(
            HostAgent(host, context).call(
                "container.stats",
                {"id": params["container_id"]},
                timeout=settings.BERTH_AGENT_REQUEST_TIMEOUT + 10,
            )
        )
    except AgentError as exc:
        if exc.code == "cancelled":
            raise
        raise _agent_says_gone(exc, params, host) from None


@action("container.diff", time_limit=DIFF_TIMEOUT + 60)
def _diff(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    host = operation_host(operation)
    args = {"id": params["container_id"], "limit": int(params.get("limit") or DIFF_PATHS)}
    try:
        return dict(HostAgent(host, context).call("container.diff", args, timeout=DIFF_TIMEOUT))
    except AgentError as exc:
        if exc.code == "cancelled":
            raise
        raise _agent_says_gone(exc, params, host) from None
