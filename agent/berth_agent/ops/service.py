"""Service ops: deploy one revision of a service on this host as ONE op, list, remove.

``service.deploy`` pulls, creates, starts, health-checks, switches and cleans up, and undoes
everything on failure or cancel, so a dropped SSH connection can never leave the host
half-deployed: once it starts changing the host it runs inside ``ctx.finish_on_eof()``, and
the agent waits for it to finish (or undo) before it exits on stdin EOF.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from berth_agent import docker_client, policy
from berth_agent.context import OpContext
from berth_agent.ops import containers, images
from berth_agent.protocol import (
    CANCELLED,
    CONFLICT,
    HEALTH_CHECK_FAILED,
    INTERNAL,
    AgentError,
    InvalidArgument,
)
from berth_agent.validation import (
    check_keys,
    check_str,
    opt_int,
    opt_number,
    valid_image_reference,
)

SERVICE_LABEL = "berth.service"
REVISION_LABEL = "berth.revision"
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_REVISION = 2**53 - 1
HEALTH_MODES = ("docker", "http", "tcp", "none")
_HTTP_PATH_RE = re.compile(r"^/[\x21-\x7e]{0,2047}$")
# A validation message of container.run names args.X; in a deploy that is args.spec.X.
_ARGS_RE = re.compile(r"(?<![\w.])args\.")
DEPLOY_KEYS = frozenset({"service", "revision", "spec", "auth", "health", "stop_timeout"})
# How often the docker health gate looks at the container.
POLL_S = 0.25
# Rollback: how long a restarted old container may take to report running.
RESTORE_TIMEOUT_S = 30.0
# Up to this many characters of health-check output / container logs go into messages.
DETAIL_CHARS = 500
_ACTIVE_STATES = ("running", "restarting", "paused")

# How long a deploy/remove waits for another one of the same service on this engine.
LOCK_WAIT_S = 300.0
LOCK_POLL_S = 0.2
LOCK_DIR = os.path.join("~", ".berth", "locks")


def _lock_path(service: str) -> str:
    """One lock file per (engine, service): every agent on the host driving that engine
    (one per Berth worker process) takes the same lock."""
    directory = os.path.expanduser(LOCK_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = hashlib.sha256(f"{docker_client.engine_url()}\0{service}".encode()).hexdigest()[:32]
    return os.path.join(directory, f"service-{key}.lock")


@contextlib.contextmanager
def _service_lock(ctx: OpContext, service: str) -> Iterator[None]:
    """One deploy/remove of a service at a time on this engine, across agent processes.

    Two Berth workers may both decide a host needs the service (a convergence racing a
    late answer); serialised, the second one finds and replaces the first one's container
    instead of leaving two. A waiter gives up when cancelled or after LOCK_WAIT_S.
    """
    try:
        fd = os.open(_lock_path(service), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise AgentError(INTERNAL, f"cannot open the lock file for {service!r}: {e}") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            if ctx.cancelled:
                raise AgentError(CANCELLED, f"{ctx.op} was cancelled while waiting")
            if time.monotonic() > deadline:
                raise AgentError(
                    CONFLICT,
                    f"another service.deploy or service.remove of {service!r} held the "
                    f"service for over {LOCK_WAIT_S:g} s",
                )
            if not told:
                ctx.progress(
                    {"step": "waiting", "message": f"waiting for another change of {service!r}"}
                )
                told = True
            ctx.cancel_event.wait(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --- arguments --------------------------------------------------------------------------


def _service_arg(args: dict, required: bool = True) -> str | None:
    value = args.get("service")
    if value is None:
        if required:
            raise InvalidArgument("args.service is required: the service name")
        return None
    if not isinstance(value, str) or not SERVICE_RE.match(value):
        raise InvalidArgument(
            "args.service must be 1-63 characters: lowercase letters, digits, '_', '.', '-', "
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


def _health_arg(value: Any) -> Health:
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


def _spec_arg(value: Any) -> tuple[str, dict[str, Any], bool, bool]:
    """(image, engine create body, publishes a fixed host port, the image's own user
    must be checked against the policy) from args.spec."""
    where = "args.spec"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object: a container.run spec without name")
    if "name" in value:
        raise InvalidArgument(
            f"{where}.name is not allowed: the agent names the container "
            "<service>-r<revision>-<random>"
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
        raise InvalidArgument(_ARGS_RE.sub("args.spec.", e.message)) from None
    check_user = policy.check_spec(value, "args.spec")
    bindings = config["HostConfig"].get("PortBindings") or {}
    fixed = any(b.get("HostPort") for entries in bindings.values() for b in entries)
    return image, config, fixed, check_user


# --- helpers ----------------------------------------------------------------------------


def _repository(ref: str) -> str:
    """registry/repo of a reference, without tag or digest."""
    name = ref.split("@", 1)[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def _normalized_repo(repo: str) -> str:
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix) :]
            break
    return repo[len("library/") :] if repo.startswith("library/") else repo


def _repo_digest(ref: str, repo_digests: list[str], pulled: str | None) -> str | None:
    """The ``repo@sha256:...`` of ``ref``: what the pull reported, else RepoDigests."""
    repository = _repository(ref)
    want = _normalized_repo(repository)
    matching = [d for d in repo_digests if _normalized_repo(_repository(d)) == want]
    if pulled:
        return f"{repository}@{pulled}"
    if "@" in ref:
        return f"{repository}@{ref.split('@', 1)[1]}"
    if matching:
        return f"{repository}@{matching[0].split('@', 1)[1]}"
    return None


def _short(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


def _failed(message: str) -> AgentError:
    return AgentError(HEALTH_CHECK_FAILED, message)


def _container_ip(attrs: dict[str, Any]) -> str | None:
    settings = attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for net in (settings.get("Networks") or {}).values():
        if (net or {}).get("IPAddress"):
            return net["IPAddress"]
    return None


class _PullContext:
    """The op's context for image.pull: tags its progress lines with the pulling step."""

    def __init__(self, ctx: OpContext) -> None:
        self._ctx = ctx
        self.digest: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def progress(self, data: dict[str, Any]) -> None:
        status = str(data.get("status") or "")
        if status.startswith("Digest: "):
            self.digest = status[len("Digest: ") :].strip()
        self._ctx.progress({"step": "pulling", **data})


@dataclass
class _Old:
    id: str
    name: str
    state: str


def _service_containers(api: Any, service: str) -> list[dict[str, Any]]:
    return api.containers(all=True, filters={"label": f"{SERVICE_LABEL}={service}"})


# --- deploy -----------------------------------------------------------------------------


class _Deploy:
    def __init__(
        self,
        ctx: OpContext,
        service: str,
        revision: int,
        image: str,
        config: dict[str, Any],
        fixed_ports: bool,
        auth: dict[str, str] | None,
        health: Health,
        stop_timeout: int,
    ) -> None:
        self.ctx = ctx
        self.api = docker_client.api()
        self.service = service
        self.revision = revision
        self.image = image
        self.config = config
        self.strategy = "stop-first" if fixed_ports else "start-first"
        self.auth = auth
        self.health = health
        self.stop_timeout = stop_timeout
        self.name = f"{service}-r{revision}-{secrets.token_hex(3)}"
        self.new_id: str | None = None
        self.stopped: list[_Old] = []
        self.step_name = "pulling"
        self.check_user = False

    def step(self, step: str, message: str) -> None:
        self.step_name = step
        self.ctx.progress({"step": step, "message": message})

    def run(self) -> dict[str, Any]:
        image_id, digest = self.pull()
        if self.check_user:  # the policy refuses root and the spec names no user
            policy.check_image_user(self.api, self.image, "args.spec")
        olds = [
            _Old(c["Id"], ((c.get("Names") or ["/?"])[0]).lstrip("/"), c.get("State") or "")
            for c in _service_containers(self.api, self.service)
        ]
        with self.ctx.finish_on_eof():  # from here on the host changes: never abandon
            try:
                health = self.switch(olds)
            except BaseException as e:  # undo on anything, then re-raise
                self.undo(e)
                raise  # undo() raises; this is for the type checker
            warnings = self.clean_up(olds)
        return {
            "container": {"id": self.new_id, "name": self.name},
            "image": self.image,
            "image_id": image_id,
            "digest": digest,
            "strategy": self.strategy,
            "replaced": [o.id for o in olds],
            "health": health,
            "warnings": warnings,
        }

    # 1. pull

    def pull(self) -> tuple[str, str | None]:
        if "@" in self.image:
            with contextlib.suppress(Exception):
                attrs = self.api.inspect_image(self.image)
                self.step("pulling", f"{self.image} is present; not pulling")
                return attrs["Id"], _repo_digest(self.image, attrs.get("RepoDigests") or [], None)
        self.step("pulling", f"pulling {self.image}")
        pull_ctx = _PullContext(self.ctx)
        args: dict[str, Any] = {"ref": self.image}
        if self.auth is not None:
            args["auth"] = self.auth
        # _PullContext stands in for the OpContext: it forwards every other attribute to it.
        images.pull(pull_ctx, args)  # type: ignore[arg-type]
        attrs = self.api.inspect_image(self.image)
        digest = _repo_digest(self.image, attrs.get("RepoDigests") or [], pull_ctx.digest)
        return attrs["Id"], digest

    # 2-3. create, start, health gate

    def switch(self, olds: list[_Old]) -> str:
        verb = "stopping" if self.strategy == "stop-first" else "beside"
        replacing = f"; {verb} {len(olds)} old container(s)" if olds else ""
        how = f"{self.strategy}{replacing}"
        self.step("creating", f"creating {self.name} from {self.image} ({how})")
        labels = dict(self.config.get("Labels") or {})
        labels[SERVICE_LABEL] = self.service
        labels[REVISION_LABEL] = str(self.revision)
        config = {**self.config, "Labels": labels}
        created = self.api.create_container_from_config(config, name=self.name)
        self.new_id = created["Id"]
        self.ctx.check_cancelled()
        if self.strategy == "stop-first":
            active = [o for o in olds if o.state in _ACTIVE_STATES]
            if active:
                names = ", ".join(o.name for o in active)
                why = "the spec publishes fixed host ports"
                self.step("starting", f"stopping {names} first: {why}")
            for old in active:
                self.stopped.append(old)  # before the stop: a half-done stop is undone too
                self.api.stop(old.id, timeout=self.stop_timeout)
            self.ctx.check_cancelled()
        self.step("starting", f"starting {self.name}")
        self.api.start(self.new_id)
        self.ctx.check_cancelled()
        h = self.health
        what = {
            "docker": "the container's own health check",
            "http": f"GET :{h.port}{h.path}",
            "tcp": f"TCP connect to :{h.port}",
            "none": "running",
        }[h.mode]
        self.step("health-checking", f"waiting for {self.name} to pass {what}")
        result = self.gate()
        self.step(
            "switching",
            f"{self.name} is {result}; service {self.service} is now at revision {self.revision}",
        )
        return result

    def _sleep(self, seconds: float) -> None:
        if self.ctx.cancel_event.wait(max(seconds, 0.0)):
            self.ctx.check_cancelled()

    def _inspect_alive(self) -> dict[str, Any]:
        """Inspect the new container; a health failure if it is no longer running."""
        attrs = self.api.inspect_container(self.new_id)
        state = attrs.get("State") or {}
        status = state.get("Status")
        if status in ("exited", "dead", "created"):
            raise _failed(
                f"container {self.name} exited with code {state.get('ExitCode')} before it "
                f"passed its health check{self._logs_tail()}"
            )
        if status == "restarting" or (attrs.get("RestartCount") or 0) > 0:
            raise _failed(
                f"container {self.name} is restarting (it exited with code "
                f"{state.get('ExitCode')}){self._logs_tail()}"
            )
        return attrs

    def _logs_tail(self) -> str:
        try:
            raw = self.api.logs(self.new_id, stdout=True, stderr=True, tail=5)
        except Exception:  # the logs are only a hint
            return ""
        text = _short(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        return f"; last output: {text}" if text else ""

    def gate(self) -> str:
        h = self.health
        started = time.monotonic()
        deadline = started + h.timeout_s
        if h.mode == "none":
            self._inspect_alive()
            return "running"
        if h.mode == "docker":
            return self._gate_docker(started, deadline)
        return self._gate_probe(deadline)

    def _gate_docker(self, started: float, deadline: float) -> str:
        h = self.health
        while True:
            attrs = self._inspect_alive()
            health = (attrs.get("State") or {}).get("Health")
            status = "no health check"
            if health:
                status = health.get("Status") or "starting"
                if status == "healthy":
                    return "healthy"
                if status == "unhealthy":
                    log = health.get("Log") or []
                    detail = _short(log[-1].get("Output")) if log else ""
                    if log and not detail:
                        detail = f"exit code {log[-1].get('ExitCode')}"
                    raise _failed(f"container {self.name} became unhealthy: {detail}")
            elif time.monotonic() - started >= h.interval_s * h.retries:
                return "running"
            if time.monotonic() >= deadline:
                raise _failed(
                    f"container {self.name} did not become healthy within "
                    f"{h.timeout_s:g} s (health: {status})"
                )
            self._sleep(min(POLL_S, deadline - time.monotonic()))

    def _gate_probe(self, deadline: float) -> str:
        h = self.health
        assert h.port is not None
        failures = 0
        while True:
            attrs = self._inspect_alive()
            ip = _container_ip(attrs)
            if not ip:
                raise _failed(
                    f"container {self.name} has no IP address to probe; "
                    "use health mode docker or none"
                )
            if h.mode == "http":
                target = f"http://{ip}:{h.port}{h.path}"
                ok, detail = _probe_http(ip, h.port, h.path, self._attempt_timeout(deadline))
            else:
                target = f"tcp://{ip}:{h.port}"
                ok, detail = _probe_tcp(ip, h.port, self._attempt_timeout(deadline))
            if ok:
                return "healthy"
            failures += 1
            if failures >= h.retries:
                raise _failed(
                    f"health check of {self.name} failed {failures} time(s) in a row: "
                    f"{target} {detail}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _failed(
                    f"health check of {self.name} did not pass within {h.timeout_s:g} s: "
                    f"{target} {detail}"
                )
            self._sleep(min(h.interval_s, remaining))

    def _attempt_timeout(self, deadline: float) -> float:
        limit = min(max(2.0 * self.health.interval_s, 2.0), 10.0)
        return max(min(limit, deadline - time.monotonic()), 0.2)

    # failure: undo

    def undo(self, exc: BaseException) -> None:
        """Put the host back as it was, then raise the (translated) failure."""
        if isinstance(exc, AgentError):
            error = exc
        else:
            error = docker_client.translate_error(exc) or AgentError(
                INTERNAL, f"internal error in service.deploy: {type(exc).__name__}"
            )
        if self.ctx.cancelled and error.code not in (HEALTH_CHECK_FAILED,):
            error = AgentError(
                CANCELLED,
                f"service.deploy of {self.service} revision {self.revision} was cancelled "
                f"while {self.step_name}; the host is back to its previous state",
            )
        actions = []
        if self.new_id:
            actions.append(f"removing {self.name}")
        if self.stopped:
            actions.append("starting " + ", ".join(o.name for o in self.stopped) + " again")
        self.step("rolling-back", f"{_short(error.message)}; " + ("; ".join(actions) or "done"))
        problems = []
        if self.new_id:
            try:
                self.api.remove_container(self.new_id, v=True, force=True)
            except Exception as e:  # report, keep undoing
                if not _is_not_found(e):
                    problems.append(f"could not remove {self.name}: {_describe(e)}")
        for old in self.stopped:
            try:
                self.api.start(old.id)
            except Exception as e:
                problems.append(f"could not start {old.name}: {_describe(e)}")
        problems += self._wait_restored()
        if problems:
            incomplete = "; ".join(problems)
            error = AgentError(error.code, f"{error.message}; rollback incomplete: {incomplete}")
        if error is exc:
            raise exc
        raise error from None

    def _wait_restored(self) -> list[str]:
        deadline = time.monotonic() + RESTORE_TIMEOUT_S
        problems = []
        for old in self.stopped:
            while True:
                try:
                    state = self.api.inspect_container(old.id).get("State") or {}
                except Exception as e:
                    problems.append(f"{old.name}: {_describe(e)}")
                    break
                if state.get("Running"):
                    if old.state == "paused" and not state.get("Paused"):
                        with contextlib.suppress(Exception):
                            self.api.pause(old.id)
                    break
                if time.monotonic() >= deadline:
                    problems.append(f"{old.name} is {state.get('Status')}, not running")
                    break
                time.sleep(0.1)
        return problems

    # 4. success: clean up

    def clean_up(self, olds: list[_Old]) -> list[str]:
        if not olds:
            return []
        self.step("cleaning-up", "stopping and removing " + ", ".join(o.name for o in olds))
        return _stop_and_remove(self.api, olds, self.stop_timeout)


def _stop_and_remove(api: Any, olds: list[_Old], stop_timeout: int) -> list[str]:
    warnings = []
    for old in olds:
        try:
            if old.state in _ACTIVE_STATES:
                with contextlib.suppress(Exception):
                    api.stop(old.id, timeout=stop_timeout)
            api.remove_container(old.id, force=True)
        except Exception as e:  # the switch is done; report, go on
            if not _is_not_found(e):
                warnings.append(f"could not remove {old.name}: {_describe(e)}")
    return warnings


def _is_not_found(e: BaseException) -> bool:
    translated = docker_client.translate_error(e)
    return translated is not None and translated.code == "not_found"


def _describe(e: BaseException) -> str:
    translated = docker_client.translate_error(e)
    return _short(translated.message if translated else f"{type(e).__name__}: {e}")


def _probe_http(ip: str, port: int, path: str, timeout: float) -> tuple[bool, str]:
    # http.client, not urllib: no proxy from the environment may ever see a health check.
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "berth-agent", "Connection": "close"})
        resp = conn.getresponse()
        resp.read(65536)
        if 200 <= resp.status < 400:
            return True, f"answered {resp.status}"
        return False, f"answered {resp.status}"
    except (OSError, http.client.HTTPException) as e:
        return False, _network_error(e, timeout)
    finally:
        conn.close()


def _probe_tcp(ip: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        socket.create_connection((ip, port), timeout=timeout).close()
    except OSError as e:
        return False, _network_error(e, timeout)
    return True, "accepted the connection"


def _network_error(e: BaseException, timeout: float) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "refused the connection"
    if isinstance(e, socket.timeout):
        return f"did not answer within {timeout:g} s"
    return f"failed: {_short(e) or type(e).__name__}"


def deploy(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, DEPLOY_KEYS)
    service = _service_arg(args)
    assert service is not None
    if "revision" not in args:
        raise InvalidArgument("args.revision is required: an integer >= 1")
    revision = opt_int(args, "revision", None, 1, MAX_REVISION)
    assert revision is not None
    if "spec" not in args:
        raise InvalidArgument("args.spec is required: the container spec (container.run args)")
    image, config, fixed_ports, check_user = _spec_arg(args["spec"])
    auth = images._auth(args["auth"]) if args.get("auth") is not None else None
    health = _health_arg(args.get("health"))
    stop_timeout = opt_int(args, "stop_timeout", 10, 0, 3600)
    assert stop_timeout is not None
    with _service_lock(ctx, service):
        deploy = _Deploy(
            ctx, service, revision, image, config, fixed_ports, auth, health, stop_timeout
        )
        deploy.check_user = check_user
        return deploy.run()


# --- list, remove -----------------------------------------------------------------------


def _revision_label(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def list_services(ctx: OpContext, args: dict) -> list[dict[str, Any]]:
    check_keys(args, {"service"})
    service = _service_arg(args, required=False)
    label = f"{SERVICE_LABEL}={service}" if service else SERVICE_LABEL
    out = []
    for c in docker_client.api().containers(all=True, filters={"label": label}):
        s = containers._summary_from_list(c)
        labels = s["labels"]
        out.append(
            {
                "id": s["id"],
                "name": s["name"],
                "service": labels.get(SERVICE_LABEL),
                "revision": _revision_label(labels.get(REVISION_LABEL)),
                "state": s["state"],
                "health": s["health"],
                "image": s["image"],
                "image_id": s["image_id"],
                "created": s["created"],
            }
        )
    out.sort(key=lambda c: (c["service"] or "", c["revision"] or 0, c["created"] or 0))
    return out


def remove(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"service", "stop_timeout"})
    service = _service_arg(args)
    assert service is not None
    stop_timeout = opt_int(args, "stop_timeout", 10, 0, 3600)
    assert stop_timeout is not None
    api = docker_client.api()
    with _service_lock(ctx, service), ctx.finish_on_eof():
        olds = [
            _Old(c["Id"], ((c.get("Names") or ["/?"])[0]).lstrip("/"), c.get("State") or "")
            for c in _service_containers(api, service)
        ]
        warnings = _stop_and_remove(api, olds, stop_timeout)
        if warnings:
            raise AgentError("docker_error", "; ".join(warnings))
    return {"removed": [o.id for o in olds]}
