"""Making and publishing images: tag, push (streamed per-layer progress), commit a
container, and build from a git URL (streamed build log)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from typing import Any, Dict, List, Optional

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.ops.images import _auth, _report, _summary, follow_stream
from berth_agent.protocol import DOCKER_ERROR, NOT_FOUND, AgentError, InvalidArgument
from berth_agent.validation import (
    REPOSITORY_RE,
    TAG_RE,
    check_keys,
    check_str,
    container_ref,
    image_ref,
    str_dict,
    valid_image_reference,
)

# What `docker commit --change` accepts (dockerd refuses any other instruction).
COMMIT_CHANGES = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
)
# What a build's context may be fetched from: dockerd clones these itself.
_GIT_URL_RE = re.compile(r"^(?:(?:https?|git)://[^\s]+|git@[^\s:]+:[^\s]+)$")
_BUILD_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Uploaded build contexts wait here (private: ~/.berth is the agent's, mode 0700) until
# the build that reads them deletes them.
UPLOAD_DIR = os.path.join("~", ".berth", "uploads")
_UPLOAD_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
MAX_CHUNK_BYTES = 768 * 1024


def _upload_path(args: dict, key: str = "upload") -> str:
    value = args.get(key)
    if not isinstance(value, str) or not _UPLOAD_ID_RE.match(value):
        raise InvalidArgument(f"args.{key} must be an upload id (lowercase letters, digits, '-')")
    return os.path.join(os.path.expanduser(UPLOAD_DIR), value + ".tar")


def upload_write(ctx: OpContext, args: dict) -> Dict[str, Any]:
    """Write one chunk (base64) of an upload at ``offset``: 0 starts it afresh, any other
    offset must be where the file ends now (chunks come in order, once each)."""
    check_keys(args, {"upload", "offset", "data"})
    path = _upload_path(args)
    offset = args.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidArgument("args.offset must be a byte offset (an integer >= 0)")
    try:
        data = base64.b64decode(check_str(args.get("data"), "args.data", 2 * MAX_CHUNK_BYTES))
    except (binascii.Error, ValueError):
        raise InvalidArgument("args.data must be base64") from None
    if len(data) > MAX_CHUNK_BYTES:
        raise InvalidArgument(f"args.data holds more than {MAX_CHUNK_BYTES} bytes")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_TRUNC if offset == 0 else os.O_APPEND
    fd = os.open(path, flags, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size != offset:
            raise InvalidArgument(f"args.offset is {offset}, but the upload holds {size} bytes")
        os.write(fd, data)
        return {"size": size + len(data)}
    finally:
        os.close(fd)


def upload_remove(ctx: OpContext, args: dict) -> Dict[str, Any]:
    check_keys(args, {"upload"})
    try:
        os.unlink(_upload_path(args))
    except FileNotFoundError:
        return {"removed": False}
    return {"removed": True}


def _repository(args: dict, key: str = "repository") -> str:
    value = args.get(key)
    if not isinstance(value, str) or len(value) > 255 or not REPOSITORY_RE.match(value):
        raise InvalidArgument(f"args.{key} must be a repository like registry:5000/team/app")
    return value


def _tag(args: dict, key: str = "tag") -> str:
    value = args.get(key, "latest")
    if not isinstance(value, str) or not TAG_RE.match(value):
        raise InvalidArgument(f"args.{key} must be a tag (letters, digits, '_', '.', '-')")
    return value


def tag(ctx: OpContext, args: dict) -> Dict[str, Any]:
    check_keys(args, {"id", "repository", "tag"})
    source = image_ref(args)
    repository, name = _repository(args), _tag(args)
    api = docker_client.api()
    api.tag(source, repository, name, force=True)
    summary = _summary(api.inspect_image(f"{repository}:{name}"))
    return {"id": summary["id"], "tags": summary["tags"], "digests": summary["digests"]}


def push(ctx: OpContext, args: dict) -> Dict[str, Any]:
    check_keys(args, {"ref", "auth"})
    ref = args.get("ref")
    if not isinstance(ref, str) or "@" in ref or not valid_image_reference(ref):
        raise InvalidArgument(
            "args.ref must be a tagged image reference like registry:5000/repo:tag"
        )
    auth = _auth(args["auth"]) if args.get("auth") is not None else None

    api = docker_client.api()  # first: it waits for the SDK's background import
    from docker import auth as docker_auth
    from docker import utils

    repository, name = utils.parse_repository_tag(ref)
    name = name or "latest"
    # Older engines refuse a push without the header; an empty login is "{}".
    headers = {"X-Registry-Auth": docker_auth.encode_header(auth or {})}
    res = api._post(
        api._url("/images/{0}/push", repository),
        params={"tag": name},
        headers=headers,
        stream=True,
        timeout=None,
    )
    if res.status_code == 404:
        res.close()
        raise AgentError(NOT_FOUND, f"no image {ref} on this host")
    last: Dict[str, Any] = {}
    digest: Optional[str] = None

    def on_event(ev: Dict[str, Any]) -> None:
        nonlocal digest
        aux = ev.get("aux")
        if isinstance(aux, dict):
            digest = str(aux.get("Digest") or "") or digest
        else:
            _report(ctx, ev, last)

    follow_stream(ctx, api, res, on_event)
    if not digest:
        raise AgentError(
            DOCKER_ERROR, f"the registry did not answer the push of {ref} with a digest"
        )
    summary = _summary(api.inspect_image(ref))
    return {"ref": ref, "digest": digest, "id": summary["id"], "digests": summary["digests"]}


def _changes(value: Any) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise InvalidArgument("args.changes must be a list of at most 100 instructions")
    out = []
    for i, item in enumerate(value):
        line = check_str(item, f"args.changes[{i}]", 4096)
        if "\n" in line or "\r" in line:
            raise InvalidArgument(f"args.changes[{i}] must be one line")
        if line.split(None, 1)[0].upper() not in COMMIT_CHANGES:
            raise InvalidArgument(
                f"args.changes[{i}] must start with one of {', '.join(COMMIT_CHANGES)}"
            )
        out.append(line)
    return out


def commit(ctx: OpContext, args: dict) -> Dict[str, Any]:
    check_keys(args, {"container", "repository", "tag", "message", "author", "changes"})
    container = container_ref(args, "container")
    repository, name = _repository(args), _tag(args)
    message = check_str(args.get("message", ""), "args.message", 4096, allow_empty=True)
    author = check_str(args.get("author", ""), "args.author", 256, allow_empty=True)
    changes = _changes(args.get("changes"))
    api = docker_client.api()
    with ctx.finish_on_eof():
        api.commit(
            container,
            repository=repository,
            tag=name,
            message=message or None,
            author=author or None,
            changes=changes or None,
        )
    summary = _summary(api.inspect_image(f"{repository}:{name}"))
    return {"id": summary["id"], "tags": summary["tags"], "digests": summary["digests"]}


def _build_params(args: dict) -> Dict[str, Any]:
    params: Dict[str, Any] = {"rm": True, "forcerm": True}
    if ("git_url" in args) == ("context_upload" in args):
        raise InvalidArgument("give either args.git_url or args.context_upload")
    if "git_url" in args:
        remote = check_str(args.get("git_url"), "args.git_url", 2048)
        if not _GIT_URL_RE.match(remote):
            raise InvalidArgument("args.git_url must be an https://, http://, git:// or git@ URL")
        params["remote"] = remote
    if args.get("dockerfile") is not None:
        params["dockerfile"] = check_str(args["dockerfile"], "args.dockerfile", 1024)
    if args.get("target") is not None:
        params["target"] = check_str(args["target"], "args.target", 256)
    tags = args.get("tags") or []
    if not isinstance(tags, list) or len(tags) > 20:
        raise InvalidArgument("args.tags must be a list of at most 20 image references")
    for i, ref in enumerate(tags):
        if not isinstance(ref, str) or "@" in ref or not valid_image_reference(ref):
            raise InvalidArgument(f"args.tags[{i}] must be an image reference like repo:tag")
    if tags:
        params["t"] = tags
    for key, query in (("build_args", "buildargs"), ("labels", "labels")):
        if args.get(key) is not None:
            values = str_dict(
                args[key], f"args.{key}", _BUILD_ARG_RE if key == "build_args" else None
            )
            params[query] = _json(values)
    return params


def _json(value: Any) -> str:
    return json.dumps(value)


def build(ctx: OpContext, args: dict) -> Dict[str, Any]:
    """Build an image from a git URL the host's engine clones, or from an uploaded tar
    (``context_upload``, deleted after); each log line is a progress line ``{"log": ...}``."""
    check_keys(
        args, {"git_url", "context_upload", "dockerfile", "target", "tags", "build_args", "labels"}
    )
    params = _build_params(args)
    upload = _upload_path(args, "context_upload") if "context_upload" in args else None
    try:
        return _build(ctx, params, upload)
    finally:
        if upload:
            with contextlib.suppress(OSError):
                os.unlink(upload)


def _build(ctx: OpContext, params: Dict[str, Any], upload: Optional[str]) -> Dict[str, Any]:
    api = docker_client.api()
    with contextlib.ExitStack() as stack:
        body, headers = None, {}
        if upload:
            try:
                body = stack.enter_context(open(upload, "rb"))
            except FileNotFoundError:
                raise AgentError(NOT_FOUND, "the uploaded build context is not here") from None
            headers = {"Content-Type": "application/x-tar"}
        # With stream=True this returns once the engine answers: the body is sent by then.
        res = api._post(
            api._url("/build"), params=params, data=body, headers=headers, stream=True, timeout=None
        )
    image_id: Optional[str] = None

    def on_event(ev: Dict[str, Any]) -> None:
        nonlocal image_id
        aux = ev.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
        text = ev.get("stream") or ev.get("status")
        if isinstance(text, str) and text.strip():
            for line in text.rstrip("\n").split("\n"):
                ctx.progress({"log": line[:8192]})
                if line.startswith("Successfully built "):
                    image_id = image_id or line.split()[-1]

    def on_error(message: str) -> None:
        ctx.progress({"log": message})  # the failing step's words end the log too

    follow_stream(ctx, api, res, on_event, on_error)
    if not image_id:
        raise AgentError(DOCKER_ERROR, "the build ended without an image")
    summary = _summary(api.inspect_image(image_id))
    return {"id": summary["id"], "tags": summary["tags"], "digests": summary["digests"]}
