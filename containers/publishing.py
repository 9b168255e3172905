"""Committing a container to a new image (then, if asked, pushing it): recorded as a
``container.commit`` Operation and run by the handler below in the worker."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agent_link.errors import AgentError
from berth.invalid import InvalidRequest
from hosts.agent import HostAgent, operation_host
from images import publishing
from images.services import _reconcile_from_agent
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, submit

from .models import Container

# The instructions `docker commit --change` applies (dockerd refuses any other).
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
MAX_CHANGES = 100


def check_changes(changes: list[str]) -> list[str]:
    """Each a one-line Dockerfile instruction that a commit can apply."""
    if len(changes) > MAX_CHANGES:
        raise InvalidRequest("changes", f"Give at most {MAX_CHANGES} changes.")
    for line in changes:
        words = line.split(None, 1)
        if "\n" in line or "\r" in line or not words or words[0].upper() not in COMMIT_CHANGES:
            raise InvalidRequest(
                "changes",
                f"{line[:80]!r}: each change is one Dockerfile instruction, one of "
                f"{', '.join(COMMIT_CHANGES)}.",
            )
    return changes


@transaction.atomic
def request_commit(
    container: Container,
    *,
    repository: str,
    tag: str = "latest",
    message: str = "",
    author: str = "",
    changes: list[str] | None = None,
    push: bool = False,
    revision_of: int | None = None,
    actor: Actor,
) -> Operation:
    """Record committing ``container`` to the image ``repository:tag`` (and, with
    ``push``, pushing it to its registry; with ``revision_of``, the pushed digest then
    becomes that service's next revision), and queue it."""
    ref = publishing.parse_tagged_ref(f"{repository}:{tag}", "repository")
    reference = publishing.full_reference(ref)
    params: dict[str, Any] = {
        "container_id": container.container_id,
        "name": container.name,
        "ref": reference,
        "message": message,
        "author": author,
        "changes": check_changes(list(changes or [])),
        "push": publishing.push_params(reference, "repository") if push else None,
        **publishing.revision_params(revision_of, actor, push=push),
    }
    return submit(
        action="container.commit", target=container, actor=actor, host=container.host, params=params
    )


@action("container.commit", time_limit=publishing.PUSH_TIME_LIMIT + 180)
def _commit(operation: Operation, context: OperationContext) -> dict[str, Any]:
    params = operation.params
    agent = HostAgent(operation_host(operation), context)
    repository, _, tag = str(params["ref"]).rpartition(":")
    context.progress(force=True, step=f"committing {params['name']}")
    try:
        result = agent.call(
            "container.commit",
            {
                "container": params["container_id"],
                "repository": repository,
                "tag": tag,
                "message": params.get("message") or "",
                "author": params.get("author") or "",
                "changes": list(params.get("changes") or []),
            },
            timeout=180,
        )
    except AgentError as exc:
        if exc.code == "not_found":
            raise OperationFailed(f"container {params['name']} is gone: {exc.message}") from None
        raise
    try:
        pushed = (
            publishing.push_on_host(agent, context, params["push"]) if params.get("push") else ""
        )
    finally:
        _reconcile_from_agent(agent)
    made = publishing.add_revision_from(operation, pushed) if pushed else {}
    return {"id": result["id"], "ref": params["ref"], "pushed": pushed, **made}
