"""The audit records of services and revisions made inside a request.

Every door (API, pages) that creates or changes a service or makes a revision calls
these, so each change is one Operation in the audit trail, like everything else.
"""

from __future__ import annotations

from typing import Any

from operations.models import Operation
from operations.services import Actor, record_change

from .models import Revision, Service


def service_fields(service: Service) -> dict[str, Any]:
    """What the audit trail records of a service: its name and where it runs."""
    return {
        "name": service.name,
        "hosts": sorted(service.hosts.values_list("name", flat=True)),
        "host_group": service.host_group.name if service.host_group_id else None,  # type: ignore[union-attr]
        "host_label": service.host_label,
    }


def record_service_saved(
    service: Service, *, actor: Actor, created: bool, changed: dict[str, Any]
) -> Operation:
    """``service.create`` (with every field) or ``service.update`` (with those given)."""
    current = service_fields(service)
    if created:
        fields = current
    else:
        fields = {name: current.get(name, value) for name, value in changed.items()}
    action = "service.create" if created else "service.update"
    return record_change(action, service, actor=actor, fields=fields)


def record_revision_created(revision: Revision, *, actor: Actor) -> Operation:
    """``revision.create``: the new revision's number, image and note (a spec's env may
    hold secrets, so the spec is not copied; the revision row keeps it)."""
    return record_change(
        "revision.create",
        revision,
        actor=actor,
        fields={
            "service": revision.service.name,
            "number": revision.number,
            "image": revision.image,
            "note": revision.note,
        },
    )
