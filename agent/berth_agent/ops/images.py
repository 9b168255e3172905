"""Image ops: list, inspect, layers (with the other images sharing each), pull (streamed
progress), remove and prune."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any, Callable, Dict, Optional

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
    last: dict[str, tuple[str, float]] = {}

    def not_found(message: str) -> None:
        if "not found" in message or "manifest unknown" in message:
            raise AgentError(NOT_FOUND, message)

    follow_stream(ctx, api, res, lambda ev: _report(ctx, ev, last), on_error=not_found)
    target = f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"
    summary = _summary(api.inspect_image(target))
    return {"id": summary["id"], "tags": summary["tags"], "digests": summary["digests"]}


def follow_stream(
    ctx: OpContext,
    api: Any,
    res: Any,
    on_event: Callable[[Dict[str, Any]], None],
    on_error: Optional[Callable[[str], None]] = None,
) -> None:
    """Read the engine's JSON event stream ``res`` (a push, a build) to its end, passing
    each event to ``on_event``; an error event raises it as the agent's error. A cancel
    closes the stream (the SDK's helpers hide the response, so it could not be aborted)."""
    api._raise_for_status(res)
    ctx.on_cancel(lambda: docker_client.close_response(res))
    try:
        for ev in api._stream_helper(res, decode=True):
            if ctx.cancelled:
                break
            if not isinstance(ev, dict):
                continue
            if ev.get("error"):
                message = str(ev["error"]).strip()
                if on_error is not None:
                    on_error(message)
                raise AgentError(DOCKER_ERROR, message)
            on_event(ev)
    except AgentError:
        raise
    except Exception:
        if not ctx.cancelled:
            raise
    finally:
        res.close()
    ctx.check_cancelled()


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


# --- layers -------------------------------------------------------------------------------

# Of the other images sharing a layer, at most this many are named (all are counted).
MAX_SHARED_NAMED = 50
# Dockerfile instructions that only change the image's config: never a layer of their own.
_CONFIG_ONLY = frozenset((
    "CMD", "ENTRYPOINT", "ENV", "LABEL", "EXPOSE", "USER", "ARG", "VOLUME", "STOPSIGNAL",
    "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER",
))  # fmt: skip
# The classic builder writes a config-only step as "/bin/sh -c #(nop)  CMD [...]".
_NOP_RE = re.compile(r"^/bin/sh -c #\(nop\)\s+(\S+)")


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Each layer's chain id, as the engine names a layer it stores: the first layer's
    diff id, then sha256 of "<chain id below> <diff id>". Two images share a stored
    layer when they have the same chain id, that is the same layers up to it."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
            continue
        digest = hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest()
        out.append(f"sha256:{digest}")
    return out


def config_only(created_by: str) -> bool:
    """Whether a history step is a Dockerfile instruction that makes no layer."""
    text = created_by.strip()
    nop = _NOP_RE.match(text)
    word = nop.group(1) if nop else (text.split(None, 1) or [""])[0]
    return word.upper() in _CONFIG_ONLY and (nop is not None or word.isupper())


def layer_steps(history: list[dict[str, Any]], layers: int) -> list[int] | None:
    """Which history steps (oldest first) made the image's ``layers`` layers, in order;
    None when the history does not say for sure.

    The engine's history gives no "empty layer" flag, only each step's size: a step with
    bytes made a layer; a step of none made one too unless it only changed the config
    (CMD, ENV, ...), but a step that made only directories also has no bytes. So: the
    steps with bytes, else those and every empty step that is not config-only, else
    every step, whichever count matches the layers."""
    sized = [i for i, step in enumerate(history) if _int(step.get("Size")) > 0]
    maybe = [
        i
        for i, step in enumerate(history)
        if _int(step.get("Size")) > 0 or not config_only(str(step.get("CreatedBy") or ""))
    ]
    for steps in (sized, maybe, list(range(len(history)))):
        if len(steps) == layers:
            return steps
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sharers(
    api: Any, ctx: OpContext, image_id: str
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Chain id -> the other images on the host that have that layer; and how many
    images were compared. One inspect per image: the image list has no layers."""
    found: dict[str, list[dict[str, Any]]] = {}
    compared = 0
    for other in api.images():
        other_id = other.get("Id")
        if not other_id or other_id == image_id:
            continue
        ctx.check_cancelled()
        try:
            attrs = api.inspect_image(other_id)
        except Exception as exc:  # removed since the list: not there to share anything
            error = docker_client.translate_error(exc)
            if error is None or error.code != NOT_FOUND:
                raise
            continue
        compared += 1
        entry = {"id": other_id, "tags": _tags(other.get("RepoTags"))}
        for chain_id in chain_ids(list((attrs.get("RootFS") or {}).get("Layers") or [])):
            found.setdefault(chain_id, []).append(entry)
    return found, compared


def _shared(sharers: list[dict[str, Any]]) -> dict[str, Any]:
    named = sorted(sharers, key=lambda s: (not s["tags"], s["tags"][:1], s["id"]))
    return {"shared_with": named[:MAX_SHARED_NAMED], "shared_count": len(sharers)}


def layers(ctx: OpContext, args: dict) -> dict[str, Any]:
    """An image's history (oldest step first) with the layer each step made, and for each
    layer the other images on this host that share it."""
    check_keys(args, {"id"})
    api = docker_client.api()
    attrs = api.inspect_image(image_ref(args))
    image_id = str(attrs.get("Id") or "")
    diff_ids = [str(d) for d in (attrs.get("RootFS") or {}).get("Layers") or []]
    chains = chain_ids(diff_ids)
    history = list(reversed(api.history(image_id) or []))  # the engine lists newest first
    sharers, compared = _sharers(api, ctx, image_id)
    rootfs = [
        {"digest": diff_id, "chain_id": chain, **_shared(sharers.get(chain, []))}
        for diff_id, chain in zip(diff_ids, chains)
    ]
    steps = layer_steps(history, len(diff_ids))
    made = dict(zip(steps, range(len(diff_ids)))) if steps is not None else {}
    rows = []
    for i, step in enumerate(history):
        row: dict[str, Any] = {
            "created": step.get("Created") if _int(step.get("Created")) > 0 else None,
            "created_by": str(step.get("CreatedBy") or ""),
            "comment": str(step.get("Comment") or ""),
            "size": _int(step.get("Size")),
            "layer": made.get(i),
            "digest": None,
            "shared_with": [],
            "shared_count": 0,
        }
        if row["layer"] is not None:
            layer = rootfs[row["layer"]]
            row.update(
                digest=layer["digest"],
                shared_with=layer["shared_with"],
                shared_count=layer["shared_count"],
            )
        rows.append(row)
    return {
        "id": image_id,
        "tags": _tags(attrs.get("RepoTags")),
        "size": attrs.get("Size"),
        "history": rows,
        "layers": rootfs,
        "mapped": steps is not None,
        "compared": compared,
    }
