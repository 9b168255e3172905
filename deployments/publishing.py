"""A service revision from a pushed image, in the same step as the push (a push, a
build or a commit with ``revision_of``): images.publishing asks through the hooks
registered here, since it cannot import this app."""

from __future__ import annotations

from typing import Any

from access.permissions import scope_queryset
from berth.invalid import InvalidRequest
from images.publishing import set_revision_hooks
from operations.context import OperationFailed
from operations.models import Operation
from operations.services import Actor
from policies.services import OverrideRefused, PolicyViolation

from .models import Service
from .services import add_revision, newest_revision


def check_revision_of(service_id: int, actor: Actor) -> None:
    """Before anything is queued: a service the caller can see (operators may add
    revisions, as through the services API)."""
    if not scope_queryset(Service.objects.all(), actor).filter(pk=service_id).exists():
        raise InvalidRequest("revision_of", f"There is no service {service_id} you can use.")


def add_pushed_revision(service_id: int, pushed: str, operation: Operation) -> dict[str, Any]:
    """The service's next revision: its newest revision's settings with the image
    ``pushed`` (``repo@digest``), checked against the policy like any other revision."""
    service = Service.objects.filter(pk=service_id).first()
    if service is None:
        raise OperationFailed(f"pushed {pushed}, but service {service_id} was deleted meanwhile")
    base = newest_revision(service)
    spec = {**base.spec, "image": pushed} if base else {"image": pushed}
    try:
        revision = add_revision(
            service,
            spec=spec,
            health=base.health if base else None,
            note=f"{pushed}, pushed by operation #{operation.pk}",
            actor=operation.actor,
        )
    except (PolicyViolation, OverrideRefused) as exc:
        raise OperationFailed(
            f"pushed {pushed}, but it cannot be a revision of {service.name}: {exc}"
        ) from None
    return {"service": service.pk, "service_name": service.name, "number": revision.number}


def register() -> None:
    set_revision_hooks(check_revision_of, add_pushed_revision)
