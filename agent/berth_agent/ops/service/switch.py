"""service.deploy: pull, create, start, gate on health, then the switch (the new
container replaces the old ones); anything that fails or is cancelled is undone.

It runs as ONE op, so a dropped SSH connection can never leave the host half-deployed:
once it starts changing the host it runs inside ``ctx.finish_on_eof()``, and the agent
waits for it to finish (or undo) before it exits on stdin EOF.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from berth_agent import docker_client, policy
from berth_agent.context import OpContext
from berth_agent.ops import images
from berth_agent.protocol import (
    CANCELLED,
    HEALTH_CHECK_FAILED,
    INTERNAL,
    AgentError,
    InvalidArgument,
)
from berth_agent.validation import check_keys, opt_int

from .args import (
    DEPLOY_KEYS,
    MAX_REVISION,
    REVISION_LABEL,
    SERVICE_LABEL,
    Health,
    health_arg,
    service_arg,
    spec_arg,
)
from .gates import HealthGate, short
from .lock import service_lock

# Rollback: how long a restarted old container may take to report running.
RESTORE_TIMEOUT_S = 30.0
_ACTIVE_STATES = ("running", "restarting", "paused")


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


def pull_image(
    ctx: OpContext,
    api: Any,
    image: str,
    auth: dict[str, str] | None,
    step: Callable[[str, str], None],
) -> tuple[str, str | None]:
    """Pull ``image`` (not when a digest reference is present already): its image id
    and the ``repo@sha256:...`` it resolved to."""
    if "@" in image:
        with contextlib.suppress(Exception):
            attrs = api.inspect_image(image)
            step("pulling", f"{image} is present; not pulling")
            return attrs["Id"], _repo_digest(image, attrs.get("RepoDigests") or [], None)
    step("pulling", f"pulling {image}")
    pull_ctx = _PullContext(ctx)
    args: dict[str, Any] = {"ref": image}
    if auth is not None:
        args["auth"] = auth
    # _PullContext stands in for the OpContext: it forwards every other attribute to it.
    images.pull(pull_ctx, args)  # type: ignore[arg-type]
    attrs = api.inspect_image(image)
    return attrs["Id"], _repo_digest(image, attrs.get("RepoDigests") or [], pull_ctx.digest)


@dataclass
class Old:
    id: str
    name: str
    state: str


def service_containers(api: Any, service: str) -> list[dict[str, Any]]:
    return api.containers(all=True, filters={"label": f"{SERVICE_LABEL}={service}"})


class Deploy:
    """One deploy of one revision: pull, create, start, gate, switch; undo on failure."""

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
        self.stopped: list[Old] = []
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
            Old(c["Id"], ((c.get("Names") or ["/?"])[0]).lstrip("/"), c.get("State") or "")
            for c in service_containers(self.api, self.service)
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
        return pull_image(self.ctx, self.api, self.image, self.auth, self.step)

    # 2-3. create, start, health gate

    def switch(self, olds: list[Old]) -> str:
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
        assert self.new_id is not None
        result = HealthGate(self.ctx, self.api, self.new_id, self.name, h).wait()
        self.step(
            "switching",
            f"{self.name} is {result}; service {self.service} is now at revision {self.revision}",
        )
        return result

    # failure: undo

    def undo(self, exc: BaseException) -> NoReturn:
        """Put the host back as it was, then raise the (translated) failure."""
        what = f"service.deploy of {self.service} revision {self.revision}"
        error = failure(self.ctx, exc, what, self.step_name)
        news = [(self.new_id, self.name)] if self.new_id else []
        self.step("rolling-back", undo_message(error, news, self.stopped))
        raise_undone(exc, error, put_back(self.api, news, self.stopped))

    # 4. success: clean up

    def clean_up(self, olds: list[Old]) -> list[str]:
        if not olds:
            return []
        self.step("cleaning-up", "stopping and removing " + ", ".join(o.name for o in olds))
        return stop_and_remove(self.api, olds, self.stop_timeout)


def failure(ctx: OpContext, exc: BaseException, what: str, step_name: str) -> AgentError:
    """What a deploy that failed with ``exc`` answers (``what``: "service.deploy of web
    revision 3"): an AgentError, and a cancel's says so."""
    if isinstance(exc, AgentError):
        error = exc
    else:
        op = what.split(" ", 1)[0]
        error = docker_client.translate_error(exc) or AgentError(
            INTERNAL, f"internal error in {op}: {type(exc).__name__}"
        )
    if ctx.cancelled and error.code != HEALTH_CHECK_FAILED:
        error = AgentError(
            CANCELLED,
            f"{what} was cancelled while {step_name}; the host is back to its previous state",
        )
    return error


def undo_message(error: AgentError, news: list[tuple[str, str]], stopped: list[Old]) -> str:
    """The rolling-back step's message: why, and what the undo does."""
    actions = []
    if news:
        actions.append("removing " + ", ".join(name for _, name in news))
    if stopped:
        actions.append("starting " + ", ".join(o.name for o in stopped) + " again")
    return f"{short(error.message)}; " + ("; ".join(actions) or "done")


def put_back(api: Any, news: list[tuple[str, str]], stopped: list[Old]) -> list[str]:
    """Remove the new containers ((id, name) each), start the old ones a deploy stopped
    and wait for them; what could not be done."""
    problems = []
    for new_id, name in news:
        try:
            api.remove_container(new_id, v=True, force=True)
        except Exception as e:  # report, keep undoing
            if not _is_not_found(e):
                problems.append(f"could not remove {name}: {_describe(e)}")
    for old in stopped:
        try:
            api.start(old.id)
        except Exception as e:
            problems.append(f"could not start {old.name}: {_describe(e)}")
    return problems + wait_restored(api, stopped)


def raise_undone(exc: BaseException, error: AgentError, problems: list[str]) -> NoReturn:
    """Raise a deploy's failure once it was undone, with what the undo could not do."""
    if problems:
        incomplete = "; ".join(problems)
        error = AgentError(error.code, f"{error.message}; rollback incomplete: {incomplete}")
    if error is exc:
        raise exc
    raise error from None


def wait_restored(api: Any, stopped: list[Old]) -> list[str]:
    """Wait for the old containers an undo started again to run (paused ones paused
    again); what did not come back."""
    deadline = time.monotonic() + RESTORE_TIMEOUT_S
    problems = []
    for old in stopped:
        while True:
            try:
                state = api.inspect_container(old.id).get("State") or {}
            except Exception as e:
                problems.append(f"{old.name}: {_describe(e)}")
                break
            if state.get("Running"):
                if old.state == "paused" and not state.get("Paused"):
                    with contextlib.suppress(Exception):
                        api.pause(old.id)
                break
            if time.monotonic() >= deadline:
                problems.append(f"{old.name} is {state.get('Status')}, not running")
                break
            time.sleep(0.1)
    return problems


def stop_and_remove(api: Any, olds: list[Old], stop_timeout: int) -> list[str]:
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
    return short(translated.message if translated else f"{type(e).__name__}: {e}")


def deploy(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, DEPLOY_KEYS)
    service = service_arg(args)
    assert service is not None
    if "revision" not in args:
        raise InvalidArgument("args.revision is required: an integer >= 1")
    revision = opt_int(args, "revision", None, 1, MAX_REVISION)
    assert revision is not None
    if "spec" not in args:
        raise InvalidArgument("args.spec is required: the container spec (container.run args)")
    image, config, fixed_ports, check_user = spec_arg(args["spec"])
    auth = images._auth(args["auth"]) if args.get("auth") is not None else None
    health = health_arg(args.get("health"))
    stop_timeout = opt_int(args, "stop_timeout", 10, 0, 3600)
    assert stop_timeout is not None
    with service_lock(ctx, service):
        deploy = Deploy(
            ctx, service, revision, image, config, fixed_ports, auth, health, stop_timeout
        )
        deploy.check_user = check_user
        return deploy.run()
