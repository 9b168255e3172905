"""Making and publishing images: tag an image, push it to a registry, build one on a
host from a git URL. Requests are checked here (a 400 before anything is queued),
recorded as Operations and run by the ``@action`` handlers below in the worker.

Pushing is shared with the containers app (commit, then push): ``push_on_host``.
"""

from __future__ import annotations

import base64
import logging
import re
import tarfile
from collections.abc import Callable, Sequence
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from agent_link.errors import AgentError
from berth.invalid import InvalidRequest
from hosts.agent import HostAgent, operation_host
from hosts.models import Host
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, enqueue, start_operation, submit
from operations.uploads import read_upload, save_upload

from .models import Image
from .services import _agent_timeout, _reconcile_from_agent, credential_for, recorded_auth
from .validators import DEFAULT_REGISTRY, ImageRef, parse_image_ref

log = logging.getLogger(__name__)

PUSH_TIME_LIMIT = 900  # seconds an image.push may run before it is stopped
PUSH_WAIT = PUSH_TIME_LIMIT - 30
BUILD_TIME_LIMIT = 1800  # seconds an image.build (with its pushes) may run
BUILD_WAIT = 1200
# As `docker build` takes a remote context: dockerd clones it itself. No shell anywhere.
GIT_URL_RE = re.compile(r"^(?:(?:https?|git)://[^\s@/]+[^\s]*|git@[^\s:/]+:[^\s]+)$")
BUILD_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_BUILD_TAGS = 20
# A pushed layer is done in one of these states (or "Mounted from <repo>": the registry
# already had it in another repository).
PUSHED = {"Pushed", "Layer already exists"}


# --- a service revision from what was pushed -------------------------------------------

# Making a service revision is the deployments app's (its policy checks apply), and it
# sits above this app: it registers these when ready. ``check(service_id, actor)``
# raises InvalidRequest("revision_of", ...) for a service the caller cannot change;
# ``add(service_id, "repo@digest", operation)`` adds the revision and says which, or
# raises OperationFailed saying why not.
RevisionCheck = Callable[[int, Actor], None]
RevisionAdd = Callable[[int, str, Operation], dict[str, Any]]


def _no_revisions(service_id: int, actor: Actor) -> None:
    raise InvalidRequest("revision_of", "Service revisions cannot be made here.")


def _no_add(service_id: int, pushed: str, operation: Operation) -> dict[str, Any]:
    raise OperationFailed("service revisions cannot be made here")


_check_revision_of: RevisionCheck = _no_revisions
_add_revision: RevisionAdd = _no_add


def set_revision_hooks(check: RevisionCheck, add: RevisionAdd) -> None:
    global _check_revision_of, _add_revision
    _check_revision_of, _add_revision = check, add


def revision_params(revision_of: int | None, actor: Actor, *, push: bool) -> dict[str, Any]:
    """What an operation records to add a revision of service ``revision_of`` once its
    push succeeded (nothing without one); a 400 when there is nothing pushed to use."""
    if revision_of is None:
        return {}
    if not push:
        raise InvalidRequest("revision_of", "A revision is made from a pushed image: push too.")
    _check_revision_of(revision_of, actor)
    return {"revision_of": revision_of}


def add_revision_from(operation: Operation, pushed: str) -> dict[str, Any]:
    """After a push: the revision of ``operation.params["revision_of"]``, if asked for."""
    service_id = operation.params.get("revision_of")
    return {"revision": _add_revision(int(service_id), pushed, operation)} if service_id else {}


def parse_tagged_ref(value: str, field: str) -> ImageRef:
    """A reference to tag or push to: the Docker grammar, with a tag (not a digest)."""
    try:
        ref = parse_image_ref(value)
    except ValueError as exc:
        raise InvalidRequest(field, str(exc)) from None
    if ref.digest:
        raise InvalidRequest(field, "Give a tag, not a digest: a digest is what a push makes.")
    return ref


def _repository(ref: ImageRef) -> str:
    """The repository as the engine names it (Docker Hub ones short)."""
    return ref.repository if ref.registry == DEFAULT_REGISTRY else ref.name


def full_reference(ref: ImageRef) -> str:
    return f"{_repository(ref)}:{ref.tag}"


def _credential_params(ref: ImageRef) -> dict[str, Any]:
    # The audit record names the credential; its secret stays in the database.
    credential = credential_for(ref)
    return {
        "credential": credential.pk if credential else None,
        "credential_name": credential.name if credential else "",
    }


# --- requests (check, record, queue) ---------------------------------------------------


def request_tag(image: Image, *, repository: str, tag: str, actor: Actor) -> Operation:
    """Record giving ``image`` (on its host) the name ``repository:tag``, and queue it."""
    ref = parse_tagged_ref(f"{repository}:{tag}" if tag else repository, "repository")
    params = {"image": image.image_id, "ref": full_reference(ref)}
    return submit(action="image.tag", target=image, actor=actor, host=image.host, params=params)


def push_params(reference: str, field: str = "reference") -> dict[str, Any]:
    """What an operation that pushes ``reference`` records: the ref and its credential."""
    ref = parse_tagged_ref(reference, field)
    return {"push": full_reference(ref), **_credential_params(ref)}


def request_push(
    image: Image, *, reference: str, revision_of: int | None = None, actor: Actor
) -> Operation:
    """Record a push of ``image`` as ``reference`` (tagged so first if it is not yet) to
    its registry, with the stored credential for that registry, and queue it; with
    ``revision_of``, the pushed digest then becomes that service's next revision."""
    params = {
        "image": image.image_id,
        **push_params(reference),
        **revision_params(revision_of, actor, push=True),
    }
    return submit(action="image.push", target=image, actor=actor, host=image.host, params=params)


def check_git_url(value: str) -> str:
    url = value.strip()
    if len(url) > 2048 or not GIT_URL_RE.match(url):
        raise InvalidRequest(
            "git_url",
            "Give a git repository URL: https://, http://, git:// or git@host:path "
            "(a #ref:subdir suffix chooses a branch and folder).",
        )
    return url


def _check_context(context: IO[bytes], size: int) -> None:
    limit = int(settings.BERTH_BUILD_CONTEXT_MAX_BYTES)
    if size > limit:
        raise InvalidRequest(
            "tarball", f"The build context is {size} bytes; at most {limit} are taken."
        )
    # A tar, plain or compressed (gzip, bzip2, xz), as the engine takes it.
    try:
        with tarfile.open(fileobj=context, mode="r:*") as archive:
            archive.next()
    except (tarfile.TarError, EOFError, OSError):
        raise InvalidRequest("tarball", "The build context must be a tar file.") from None
    finally:
        context.seek(0)


def request_build(
    host: Host,
    *,
    git_url: str = "",
    context: IO[bytes] | None = None,
    context_size: int = 0,
    dockerfile: str = "",
    target: str = "",
    build_args: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    tags: Sequence[str] = (),
    push: bool = False,
    revision_of: int | None = None,
    actor: Actor,
) -> Operation:
    """Record a build on ``host`` from a git repository its engine clones, or from an
    uploaded tar ``context`` (kept with the operation until it ends), then, with
    ``push``, a push of every tag (with ``revision_of``, the first tag's pushed digest
    becomes that service's next revision), and queue it."""
    if bool(git_url) == (context is not None):
        raise InvalidRequest("git_url", "Give either git_url or a tarball (the build context).")
    if context is not None:
        _check_context(context, context_size)
    if len(tags) > MAX_BUILD_TAGS:
        raise InvalidRequest("tags", f"Give at most {MAX_BUILD_TAGS} tags.")
    refs = [full_reference(parse_tagged_ref(tag, "tags")) for tag in tags]
    if push and not refs:
        raise InvalidRequest("tags", "Give at least one tag to push.")
    for name in build_args or {}:
        if not BUILD_ARG_RE.match(name):
            raise InvalidRequest("build_args", f"{name!r} is not a build argument name.")
    source = {"git_url": check_git_url(git_url)} if git_url else {"context_bytes": context_size}
    params: dict[str, Any] = {
        **source,
        "dockerfile": dockerfile,
        "target": target,
        "build_args": dict(build_args or {}),
        "labels": dict(labels or {}),
        "tags": refs,
        "push": [push_params(ref, "tags") for ref in refs] if push else [],
        **revision_params(revision_of, actor, push=push),
    }
    if context is None:
        return submit(action="image.build", target=host, actor=actor, host=host, params=params)
    with transaction.atomic():  # the upload is stored before the worker can look for it
        operation = start_operation(
            action="image.build", target=host, actor=actor, host=host, params=params
        )
        save_upload(operation, context)
        return enqueue(operation)


# --- the worker ----------------------------------------------------------------------


def push_on_host(agent: HostAgent, context: OperationContext, params: dict[str, Any]) -> str:
    """Push ``params["push"]`` (a tagged ref on the agent's host) with per-layer progress
    in the operation's stream; returns ``repo@digest`` as the registry stored it."""
    ref = str(params["push"])
    args: dict[str, Any] = {"ref": ref}
    auth = recorded_auth(params, "the push")
    if auth is not None:
        args["auth"] = auth
    layers: dict[str, str] = {}

    def on_progress(item: dict[str, Any]) -> None:
        if item.get("layer"):
            layers[str(item["layer"])] = str(item.get("status") or "")
        context.stream({"push": ref, **item})
        done = sum(1 for s in layers.values() if s in PUSHED or s.startswith("Mounted from"))
        context.progress(step=f"pushing {ref}", layers_total=len(layers), layers_done=done)

    context.progress(force=True, step=f"pushing {ref}")
    try:
        result = agent.call("image.push", args, timeout=PUSH_WAIT, on_progress=on_progress)
    except AgentError as exc:
        raise OperationFailed(f"push of {ref} failed: {exc.message}") from None
    repository = ref.rsplit(":", 1)[0] if ":" in ref.rpartition("/")[2] else ref
    return f"{repository}@{result['digest']}"


@action("image.tag", time_limit=120)
def _tag(operation: Operation, context: OperationContext) -> dict[str, Any]:
    agent = HostAgent(operation_host(operation), context)
    ref = str(operation.params["ref"])
    repository, _, tag = ref.rpartition(":")
    try:
        result = agent.call(
            "image.tag",
            {"id": operation.params["image"], "repository": repository, "tag": tag},
            timeout=_agent_timeout(),
        )
    finally:
        _reconcile_from_agent(agent)
    return {"id": result["id"], "tags": result["tags"], "ref": ref}


@action("image.push", time_limit=PUSH_TIME_LIMIT)
def _push(operation: Operation, context: OperationContext) -> dict[str, Any]:
    agent = HostAgent(operation_host(operation), context)
    ref = str(operation.params["push"])
    repository, _, tag = ref.rpartition(":")
    try:
        # Naming the image as asked first makes "push this image as X" one action.
        agent.call(
            "image.tag",
            {"id": operation.params["image"], "repository": repository, "tag": tag},
            timeout=_agent_timeout(),
        )
        pushed = push_on_host(agent, context, operation.params)
    finally:
        _reconcile_from_agent(agent)
    made = add_revision_from(operation, pushed)
    return {"ref": ref, "pushed": pushed, "digest": pushed.partition("@")[2], **made}


def _upload_context(agent: HostAgent, operation: Operation, context: OperationContext) -> str:
    """Send the operation's uploaded build context to the host, a chunk per request (a
    request is at most 1 MiB); returns the upload id the agent's build reads it by."""
    upload = f"op-{operation.pk}"
    total = int(operation.params.get("context_bytes") or 0)
    offset = 0
    try:
        for chunk in read_upload(operation):
            data = base64.b64encode(chunk).decode("ascii")
            agent.call("upload.write", {"upload": upload, "offset": offset, "data": data})
            offset += len(chunk)
            context.progress(step="sending the build context", sent=offset, total=total)
            context.check_cancelled()
        if offset != total:
            raise OperationFailed("the uploaded build context is gone (the operation ran before?)")
    except BaseException:
        # The build deletes what it read; a part sent without a build must not stay.
        try:
            agent.call("upload.remove", {"upload": upload}, cancel=None)
        except Exception:
            log.warning("could not remove upload %s from %s", upload, agent, exc_info=True)
        raise
    return upload


@action("image.build", time_limit=BUILD_TIME_LIMIT)
def _build(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    agent = HostAgent(operation_host(operation), context)
    args: dict[str, Any] = {"tags": list(params.get("tags") or [])}
    if params.get("git_url"):
        args["git_url"] = params["git_url"]
    else:
        args["context_upload"] = _upload_context(agent, operation, context)
    for key in ("dockerfile", "target"):
        if params.get(key):
            args[key] = params[key]
    for key in ("build_args", "labels"):
        if params.get(key):
            args[key] = params[key]
    lines = 0

    def on_log(item: dict[str, Any]) -> None:
        nonlocal lines
        lines += 1
        # As a "line", like a container's log: the operation page shows it as one.
        context.stream({"line": str(item.get("log", ""))})
        context.progress(step="building", log_lines=lines)

    context.progress(force=True, step=f"building on {agent.host.name}")
    try:
        result = agent.call("image.build", args, timeout=BUILD_WAIT, on_progress=on_log)
    except AgentError as exc:
        _reconcile_from_agent(agent)
        raise OperationFailed(f"the build failed: {exc.message}") from None
    pushed = [push_on_host(agent, context, push) for push in params.get("push") or []]
    _reconcile_from_agent(agent)
    context.progress(force=True, step="built" + (" and pushed" if pushed else ""))
    made = add_revision_from(operation, pushed[0]) if pushed else {}
    return {"id": result["id"], "tags": result["tags"], "pushed": pushed, **made}
