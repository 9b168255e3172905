"""Image ops: list, inspect, pull (streamed progress), remove and prune."""

from __future__ import annotations

import time
from typing import Any

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.ops.common import iso_to_unix
from berth_agent.protocol import DOCKER_ERROR, NOT_FOUND, AgentError, InvalidArgument
from berth_agent.validation import (
    check_keys,
    check_str,
    image_ref,
    opt_bool,
    valid_image_reference,
)

# Per layer, at most one "same status" progress line per this many seconds.
PROGRESS_INTERVAL_S = 0.25


def _tags(tags: Any) -> list[str]:
    return [t for t in tags or [] if t and t != "<none>:<none>"]


def _digests(digests: Any) -> list[str]:
    return [d for d in digests or [] if d and d != "<none>@<none>"]


def list_images(ctx: OpContext, args: dict) -> list[dict[str, Any]]:
    check_keys(args, {"all"})
    show_all = opt_bool(args, "all", False)
    return [
        {
            "id": i.get("Id"),
            "tags": _tags(i.get("RepoTags")),
            "digests": _digests(i.get("RepoDigests")),
            "size": i.get("Size"),
            "created": i.get("Created"),
        }
        for i in docker_client.api().images(all=show_all)
    ]


def _summary(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a.get("Id"),
        "tags": _tags(a.get("RepoTags")),
        "digests": _digests(a.get("RepoDigests")),
        "size": a.get("Size"),
        "created": iso_to_unix(a.get("Created")),
    }


def inspect(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id"})
    attrs = docker_client.api().inspect_image(image_ref(args))
    return {"summary": _summary(attrs), "attrs": attrs}


def _auth(value: Any) -> dict[str, str]:
    where = "args.auth"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    check_keys(value, {"username", "password", "serveraddress"}, where)
    for key in ("username", "password"):
        if key not in value:
            raise InvalidArgument(f"{where}.{key} is required")
    return {k: check_str(v, f"{where}.{k}", 4096) for k, v in value.items()}


def pull(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"ref", "auth"})
    ref = args.get("ref")
    if not isinstance(ref, str) or not valid_image_reference(ref):
        raise InvalidArgument("args.ref must be an image reference like registry:5000/repo:tag")
    auth = _auth(args["auth"]) if args.get("auth") is not None else None

    # api() first: it waits for the background import of the SDK (prewarm); importing
    # a part of it before that, from a second thread, can see half-made modules.
    api = docker_client.api()
    from docker import auth as docker_auth
    from docker import utils

    repository, tag = utils.parse_repository_tag(ref)
    tag = tag or "latest"
    headers = {"X-Registry-Auth": docker_auth.encode_header(auth)} if auth else {}
    # The SDK's pull() hides the response, so it could not be aborted from another thread.
    res = api._post(
        api._url("/images/create"),
        params={"fromImage": repository, "tag": tag},
        headers=headers,
        stream=True,
        timeout=None,
    )
    api._raise_for_status(res)
    ctx.on_cancel(lambda: docker_client.close_response(res))
    last: dict[str, tuple[str, float]] = {}
    try:
        for ev in api._stream_helper(res, decode=True):
            if ctx.cancelled:
                break
            if not isinstance(ev, dict):
                continue
            if ev.get("error"):
                msg = str(ev["error"])
                code = NOT_FOUND if "not found" in msg or "manifest unknown" in msg else None
                raise AgentError(code or DOCKER_ERROR, msg)
            _report(ctx, ev, last)
    except AgentError:
        raise
    except Exception:
        if not ctx.cancelled:
            raise
    finally:
        res.close()
    ctx.check_cancelled()
    target = f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"
    summary = _summary(api.inspect_image(target))
    return {"id": summary["id"], "tags": summary["tags"], "digests": summary["digests"]}


def _report(ctx: OpContext, ev: dict[str, Any], last: dict[str, tuple[str, float]]) -> None:
    status = str(ev.get("status") or "")
    if "progressDetail" not in ev:
        ctx.progress({"layer": None, "status": status})
        return
    layer = str(ev.get("id") or "")
    now = time.monotonic()
    prev = last.get(layer)
    if prev and prev[0] == status and now - prev[1] < PROGRESS_INTERVAL_S:
        return
    last[layer] = (status, now)
    detail = ev.get("progressDetail") or {}
    line: dict[str, Any] = {"layer": layer, "status": status}
    if "current" in detail:
        line["current"] = detail.get("current")
    if "total" in detail:
        line["total"] = detail.get("total")
    ctx.progress(line)


def remove(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id", "force"})
    ref = image_ref(args)
    force = opt_bool(args, "force", False)
    out = docker_client.api().remove_image(ref, force=force) or []
    return {
        "untagged": [e["Untagged"] for e in out if e.get("Untagged")],
        "deleted": [e["Deleted"] for e in out if e.get("Deleted")],
    }


def prune(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"all"})
    all_unused = opt_bool(args, "all", False)
    # dangling=false prunes every unused image, like `docker image prune --all`.
    out = docker_client.api().prune_images(filters={"dangling": not all_unused}) or {}
    entries = out.get("ImagesDeleted") or []
    return {
        "space_reclaimed": out.get("SpaceReclaimed") or 0,
        "deleted": [e["Deleted"] for e in entries if e.get("Deleted")],
        "untagged": [e["Untagged"] for e in entries if e.get("Untagged")],
    }
