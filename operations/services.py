"""Creating, claiming and finishing operations: the audit trail of every action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model
from django.utils import timezone

from .choices import OperationStatus
from .models import Operation

if TYPE_CHECKING:
    from hosts.models import Host

SYSTEM_ACTOR = "system"


def start_operation(
    *,
    action: str,
    target: Model,
    actor: User | AnonymousUser | None,
    params: dict[str, Any] | None = None,
    host: Host | None = None,
    parent: Operation | None = None,
) -> Operation:
    """Record a pending operation before anything runs."""
    user = actor if isinstance(actor, User) and actor.is_authenticated else None
    return Operation.objects.create(
        action=action,
        actor=user,
        actor_name=user.get_username() if user else SYSTEM_ACTOR,
        target_type=target._meta.model_name or "",
        target_id=str(target.pk),
        target_name=str(target),
        host=host,
        parent=parent,
        params=params or {},
    )


def claim_operation(operation_id: int) -> Operation | None:
    """Move a pending operation to running; None when another worker got it first."""
    claimed = Operation.objects.filter(pk=operation_id, status=OperationStatus.PENDING).update(
        status=OperationStatus.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return None
    return Operation.objects.get(pk=operation_id)


def succeed_operation(operation: Operation, result: Any = None) -> None:
    operation.status = OperationStatus.SUCCEEDED
    operation.result = result
    operation.finished_at = timezone.now()
    operation.save(update_fields=["status", "result", "finished_at"])


def fail_operation(operation: Operation, error: str) -> None:
    operation.status = OperationStatus.FAILED
    operation.error = error
    operation.finished_at = timezone.now()
    operation.save(update_fields=["status", "error", "finished_at"])
