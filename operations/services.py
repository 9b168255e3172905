"""The operation life cycle: record, claim, run, retry, cancel, fan out, reap.

Every action that changes a host goes through here. A request records a pending
Operation and queues its id; a worker claims it atomically, runs the handler the
owning app registered for the action, and records the outcome in plain words.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery import Signature, group
from celery.exceptions import SoftTimeLimitExceeded
from django import db
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Count, F, Model, Q
from django.utils import timezone

from agent_link.errors import AgentError, AgentLinkError
from berth.broker import BROKER_ERRORS, BrokerUnavailable
from berth.celery import app as celery_app
from berth.logging import bind_log_context, log_context

from . import registry
from .choices import FINISHED_STATUSES, OperationStatus
from .context import OperationCancelled, OperationContext, OperationFailed
from .models import Operation
from .signals import operation_finished

if TYPE_CHECKING:
    from hosts.models import Host

log = logging.getLogger(__name__)

# The database is unreachable or the connection broke (not a bug in the action).
DATABASE_ERRORS = (db.OperationalError, db.InterfaceError)

SYSTEM_ACTOR = "system"
# The Celery task that runs every operation (operations/tasks.py).
EXECUTE_OPERATION = "operations.tasks.execute_operation"
# Keys and values that never go into an operation's recorded parameters.
SECRET_PARAM_NAMES = {"password", "passphrase", "private_key", "token", "secret", "auth"}
# Mappings keyed by names the user chose (a container spec's environment variables, the
# secrets they take, labels), not by parameter names: recorded as they are, because a
# handler runs what the params hold. A spec's env holds no secret value: the API refuses
# names that look secret, and secrets are given by name (containers/secrets.py).
USER_NAMED_MAPPINGS = {"env", "env_secrets", "labels"}

Actor = User | AnonymousUser | None


def redact(params: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with secrets replaced, at any depth."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if key.lower() in SECRET_PARAM_NAMES:
            clean[key] = "***"
        elif key in USER_NAMED_MAPPINGS and isinstance(value, dict):
            clean[key] = value
        elif isinstance(value, dict):
            clean[key] = redact(value)
        else:
            clean[key] = value
    return clean


# --- recording ---------------------------------------------------------------------


def start_operation(
    *,
    action: str,
    target: Model | None,
    actor: Actor,
    params: dict[str, Any] | None = None,
    host: Host | None = None,
    parent: Operation | None = None,
    target_name: str = "",
    status: str = OperationStatus.PENDING,
) -> Operation:
    """Record an operation (pending, unless told otherwise) before anything runs."""
    user = actor if isinstance(actor, User) and actor.is_authenticated else None
    return Operation.objects.create(
        action=action,
        actor=user,
        actor_name=user.get_username() if user else SYSTEM_ACTOR,
        target_type=target._meta.model_name or "" if target is not None else "selection",
        target_id=str(target.pk) if target is not None else "",
        target_name=str(target) if target is not None else target_name,
        host=host,
        parent=parent,
        params=redact(params or {}),
        status=status,
        started_at=timezone.now() if status == OperationStatus.RUNNING else None,
    )


def _execute_task(
    operation: Operation, options: dict[str, Any], *, immutable: bool = False
) -> Signature:
    """The task that runs ``operation`` (operations/tasks.py), named rather than imported:
    that module calls into this one."""
    return celery_app.signature(
        EXECUTE_OPERATION,
        args=(operation.pk,),
        kwargs={"host_id": operation.host_id},
        options=options,
        immutable=immutable,
    )


def enqueue(operation: Operation) -> Operation:
    """Queue the operation's run once the current transaction commits."""
    spec = registry.get_action(operation.action)
    if spec is None:
        raise ValueError(f"no handler is registered for {operation.action}")
    transaction.on_commit(
        lambda: _publish(
            [operation.pk],
            lambda: _execute_task(
                operation,
                {"soft_time_limit": spec.time_limit, "time_limit": spec.time_limit + 30},
            ).apply_async(),
        )
    )
    return operation


def _publish(operation_ids: list[int], send: Callable[[], object]) -> None:
    """Send the task(s) of recorded operations; with the broker unreachable, fail them.

    Runs after the transaction that recorded them committed, so it never rolls
    anything back: an operation whose task could not be sent is marked failed
    with the reason (rather than left pending for the reaper), and the caller
    gets BrokerUnavailable, which the API answers as a 503. Celery's publish
    retries are bounded in settings, so this takes seconds, not minutes.
    """
    try:
        send()
    except BROKER_ERRORS as exc:
        log.error(
            "could not queue operation(s) %s: the task queue is unreachable: %s", operation_ids, exc
        )
        error = f"not queued: the task queue (Redis) was unreachable ({exc})"
        for operation_id in operation_ids:
            _fail_unqueued(operation_id, error)
        raise BrokerUnavailable(str(exc), operation_ids) from exc


def _fail_unqueued(operation_id: int, error: str) -> None:
    # Only while still pending: a sibling in a bulk group that did get sent may
    # already be running on a worker, and keeps its own outcome.
    with transaction.atomic():
        operation = (
            Operation.objects.select_for_update()
            .filter(pk=operation_id, status=OperationStatus.PENDING)
            .first()
        )
        if operation is not None:
            _finish(operation, OperationStatus.FAILED, error=error)


def submit(
    *,
    action: str,
    target: Model,
    actor: Actor,
    host: Host | None,
    params: dict[str, Any] | None = None,
) -> Operation:
    """Record an operation and queue it.

    Params are recorded for the audit trail, so they never carry secrets: a
    handler that needs one (a registry password) looks up the stored, encrypted
    credential by id.
    """
    operation = start_operation(action=action, target=target, actor=actor, params=params, host=host)
    return enqueue(operation)


def record_operation(
    *,
    action: str,
    target: Model,
    actor: Actor,
    host: Host | None = None,
    params: dict[str, Any] | None = None,
    result: Any = None,
) -> Operation:
    """Record an action that completed inside the request (nothing ran on a host)."""
    operation = start_operation(
        action=action, target=target, actor=actor, host=host, params=params,
        status=OperationStatus.RUNNING,
    )  # fmt: skip
    _finish(operation, OperationStatus.SUCCEEDED, result=result)
    return operation


# --- running -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    retry_in: float | None = None
    reclaim_from: str | None = None  # the retry may take over this claimer's claim


def _worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def _process_alive(claimed_by: str) -> bool:
    node, _, pid = claimed_by.rpartition(":")
    if node != os.uname().nodename or not pid.isdigit():
        return True  # another machine's worker: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claimer_lost(operation: Operation, now: datetime) -> bool:
    """Whether the process that claimed this running operation is gone.

    A process on this machine is judged by its pid. One on another machine cannot be:
    it is lost once the operation's heartbeat is older than BERTH_WORKER_LOST_AFTER
    (its machine died or was cut off, and with it every process it ran).
    """
    if not _process_alive(operation.claimed_by):
        return True
    if operation.heartbeat_at is None:
        return False  # claimed before heartbeats were written: left to the deadline
    silent_since = now - timedelta(seconds=settings.BERTH_WORKER_LOST_AFTER)
    return operation.heartbeat_at < silent_since


@contextmanager
def heartbeat(operation_id: int, claimer: str) -> Iterator[None]:
    """Write the operation's heartbeat every BERTH_WORKER_HEARTBEAT s while the block runs.

    From a thread of its own with its own database connection, so a handler busy in a
    long agent call still beats. It only touches the row while ``claimer`` holds it.
    A beat that fails (the database away) is skipped: the run itself finds out.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.BERTH_WORKER_HEARTBEAT):
                try:
                    Operation.objects.filter(
                        pk=operation_id, status=OperationStatus.RUNNING, claimed_by=claimer
                    ).update(heartbeat_at=timezone.now())
                except DATABASE_ERRORS as exc:
                    log.warning(
                        "operation %s: could not write its heartbeat (%s)", operation_id, exc
                    )
                    db.connections.close_all()
        finally:
            db.connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"heartbeat-{operation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def claim_operation(operation_id: int, *, reclaim_from: str | None = None) -> Operation | None:
    """Move a pending operation to running; None when someone else has it.

    A running operation whose worker process has died (on this machine, killed in
    the middle, the task message redelivered; on another, its heartbeat silent for
    BERTH_WORKER_LOST_AFTER), or whose claimer gave its run up
    (``reclaim_from``: it lost the database), is claimed again and re-run: every
    handler is written to be safe to repeat.
    """
    operation = Operation.objects.filter(pk=operation_id).first()
    if operation is None:
        return None
    spec = registry.get_action(operation.action)
    limit = spec.time_limit if spec else 120
    now = timezone.now()
    fields = {
        "status": OperationStatus.RUNNING,
        "started_at": now,
        "claimed_by": _worker_name(),
        "attempts": F("attempts") + 1,
        "deadline_at": now + timedelta(seconds=limit + 60),
        "heartbeat_at": now,
    }
    claimed = Operation.objects.filter(pk=operation_id, status=OperationStatus.PENDING).update(
        **fields
    )
    lost = operation.status == OperationStatus.RUNNING and (
        _claimer_lost(operation, now) or operation.claimed_by == reclaim_from
    )
    if not claimed and lost:
        # Only if the claim is still the one judged lost: a beat written meanwhile
        # means its process is alive after all.
        claimed = Operation.objects.filter(
            pk=operation_id,
            status=OperationStatus.RUNNING,
            claimed_by=operation.claimed_by,
            heartbeat_at=operation.heartbeat_at,
        ).update(**fields)
        if claimed:
            log.warning("operation %s: its worker was lost; running it again", operation_id)
    if claimed != 1:
        return None
    return Operation.objects.select_related("host").get(pk=operation_id)


# Seconds before a run the database interrupted is tried again.
DATABASE_RETRY_IN = 5.0


def execute(operation_id: int, *, reclaim_from: str | None = None) -> Outcome:
    """Run a queued operation to its end (or to a retry); never raises for host trouble.

    The database going away mid-run (a PostgreSQL restart) is not an outcome: nothing
    can be recorded then, so the run is tried again shortly, by the task's retry,
    which may take over the claim of this process (``reclaim_from``) from whichever
    worker process gets it; every handler is safe to repeat, and a rollout resumes.
    """
    # Every line logged while it runs, here or in the handler, names the operation.
    with log_context(operation_id=operation_id):
        try:
            return _execute(operation_id, reclaim_from)
        except DATABASE_ERRORS as exc:
            log.warning(
                "operation %s: lost the database (%s); trying again in %g s",
                operation_id, exc, DATABASE_RETRY_IN,
            )  # fmt: skip
            db.connections.close_all()  # broken connections: the retry opens new ones
            return Outcome(retry_in=DATABASE_RETRY_IN, reclaim_from=_worker_name())


def _execute(operation_id: int, reclaim_from: str | None) -> Outcome:
    operation = claim_operation(operation_id, reclaim_from=reclaim_from)
    if operation is None:
        return Outcome()
    return _run_claimed(operation)


def _run_claimed(operation: Operation) -> Outcome:
    # Reset with the block in execute(), so it never outlives this run.
    bind_log_context(host=operation.host.name if operation.host else None)
    spec = registry.get_action(operation.action)
    if spec is None:
        _finish(operation, OperationStatus.FAILED, error=f"unknown action {operation.action}")
        return Outcome()
    context = OperationContext(operation)
    try:
        if operation.cancel_requested:
            raise OperationCancelled()
        try:
            # In-process (eager) runs have no worker to lose: nothing to beat for.
            beating = (
                nullcontext()
                if settings.CELERY_TASK_ALWAYS_EAGER
                else heartbeat(operation.pk, operation.claimed_by)
            )
            with beating:
                result = spec.handler(operation, context)
        finally:
            # The stream's last lines reach Redis before the status says finished, so a
            # client that reads the stream once it sees the end gets every line.
            _flush_before_finishing(operation, context)
    except OperationCancelled:
        _finish(operation, OperationStatus.CANCELLED, error="cancelled before it finished")
    except OperationFailed as exc:
        _finish(operation, OperationStatus.FAILED, error=str(exc))
    except AgentError as exc:
        if exc.code == "cancelled":
            _finish(operation, OperationStatus.CANCELLED, error="cancelled before it finished")
        else:
            _finish(operation, OperationStatus.FAILED, error=exc.message)
    except AgentLinkError as link_error:
        if (
            link_error.retryable
            and spec.retry_transport
            and operation.attempts <= settings.BERTH_OPERATION_RETRIES
        ):
            delay = settings.BERTH_RETRY_BACKOFF * 2 ** (operation.attempts - 1)
            delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter
            Operation.objects.filter(pk=operation.pk).update(
                status=OperationStatus.PENDING,
                error=f"attempt {operation.attempts} failed, retrying: {link_error}",
            )
            return Outcome(retry_in=delay)
        status = link_error.status.replace("_", " ")
        _finish(operation, OperationStatus.FAILED, error=f"host {status}: {link_error}")
    except DATABASE_ERRORS:
        raise  # not the action's outcome: execute() tries the run again
    except SoftTimeLimitExceeded:
        _finish(
            operation,
            OperationStatus.FAILED,
            error=f"did not finish within its time limit of {spec.time_limit} s",
        )
    except Exception as exc:
        log.exception("operation %s (%s) failed with a bug", operation.pk, operation.action)
        _finish(
            operation,
            OperationStatus.FAILED,
            error=f"Berth hit an unexpected error ({type(exc).__name__}); see the worker log",
        )
    else:
        _finish(operation, OperationStatus.SUCCEEDED, result=result)
    finally:
        context.flush()
    return Outcome()


def _flush_before_finishing(operation: Operation, context: OperationContext) -> None:
    try:
        context.flush()
    except DATABASE_ERRORS:
        raise  # as from the handler: execute() tries the run again
    except Exception:
        # Redis gone, say: the outcome is still the handler's, recorded next.
        log.warning("operation %s: could not write its stream", operation.pk, exc_info=True)


def _finish(operation: Operation, status: str, *, result: Any = None, error: str = "") -> None:
    operation.status = status
    operation.result = result
    operation.error = error
    operation.finished_at = timezone.now()
    operation.save(update_fields=["status", "result", "error", "finished_at", "progress"])
    if operation.parent_id:
        update_parent(operation.parent_id)
    _announce_finished(operation)


def _announce_finished(operation: Operation) -> None:
    """Tell the apps that keep state beside the operation (a rollout) that it ended.

    A receiver's failure is logged, never raised: the operation's own outcome is
    already recorded and must not be turned into a different one by a listener.
    """
    for receiver, error in operation_finished.send_robust(sender=Operation, operation=operation):
        if isinstance(error, Exception):
            log.error(
                "operation %s: %s failed after it finished: %r",
                operation.pk, getattr(receiver, "__qualname__", receiver), error,
                exc_info=error,
            )  # fmt: skip


# --- cancelling -------------------------------------------------------------------------


def request_cancel(operation: Operation, *, actor: Actor) -> Operation:
    """Cancel a pending operation at once; ask a running one to stop.

    A running operation stops where its agent op allows it (a pull, a log follow);
    one that cannot be interrupted finishes and keeps its outcome.
    """
    if operation.finished:
        raise ValueError(f"operation {operation.pk} has already {operation.status}")
    targets = [operation, *operation.children.exclude(status__in=FINISHED_STATUSES)]
    for target in targets:
        cancelled = Operation.objects.filter(pk=target.pk, status=OperationStatus.PENDING).update(
            status=OperationStatus.CANCELLED,
            error=f"cancelled by {actor or SYSTEM_ACTOR} before it started",
            finished_at=timezone.now(),
            cancel_requested=True,
        )
        if cancelled:
            _announce_finished(Operation.objects.get(pk=target.pk))
        else:
            Operation.objects.filter(pk=target.pk).update(cancel_requested=True)
    if operation.parent_id is not None:
        update_parent(operation.parent_id)
    if len(targets) > 1:
        update_parent(operation.pk)
    operation.refresh_from_db()
    return operation


# --- bulk --------------------------------------------------------------------------------


def submit_bulk(
    *,
    action: str,
    targets: Iterable[tuple[Model, Host]],
    actor: Actor,
    params: dict[str, Any] | None = None,
    label: str,
    params_for: Callable[[Any], dict[str, Any]] | None = None,
) -> Operation:
    """One parent operation with a child per target, run in parallel (a Celery group).

    Every child gets ``params``, plus ``params_for(target)`` when given. A child's
    failure does not stop the others; the parent ends when all have, with
    per-target results.
    """
    parent = start_operation(
        action=f"bulk.{action}",
        target=None,
        target_name=label,
        actor=actor,
        params=params,
        status=OperationStatus.RUNNING,
    )
    children = [
        start_operation(
            action=action,
            target=target,
            actor=actor,
            params={**(params or {}), **(params_for(target) if params_for else {})},
            host=host,
            parent=parent,
        )
        for target, host in targets
    ]
    if not children:
        _finish(parent, OperationStatus.SUCCEEDED, result={"targets": []})
        return parent
    spec = registry.get_action(action)
    if spec is None:
        raise ValueError(f"no handler is registered for {action}")
    limits = {"soft_time_limit": spec.time_limit, "time_limit": spec.time_limit + 30}
    tasks = group(_execute_task(child, limits, immutable=True) for child in children)
    transaction.on_commit(lambda: _publish([child.pk for child in children], tasks.apply_async))
    return parent


def update_parent(parent_id: int) -> None:
    """Finish a bulk parent once none of its children is still pending or running."""
    counts = Operation.objects.filter(parent_id=parent_id).aggregate(
        total=Count("id"),
        open=Count("id", filter=~Q(status__in=FINISHED_STATUSES)),
        succeeded=Count("id", filter=Q(status=OperationStatus.SUCCEEDED)),
    )
    if counts["open"]:
        return
    children = Operation.objects.filter(parent_id=parent_id).order_by("id")
    results = [
        {
            "operation": child.pk,
            "target": child.target_name,
            "host": child.host_id,
            "status": child.status,
            "error": child.error,
        }
        for child in children
    ]
    failed = [row for row in results if row["status"] != OperationStatus.SUCCEEDED]
    status = OperationStatus.SUCCEEDED if not failed else OperationStatus.FAILED
    error = ""
    if failed:
        error = f"{counts['succeeded']} of {counts['total']} succeeded; " + "; ".join(
            f"{row['target']}: {row['error'] or row['status']}" for row in failed
        )
    Operation.objects.filter(pk=parent_id).exclude(status__in=FINISHED_STATUSES).update(
        status=status,
        result={"targets": results},
        error=error,
        finished_at=timezone.now(),
        progress={"done": counts["total"], "total": counts["total"]},
    )


# --- reaping ------------------------------------------------------------------------------


def reap_stuck_operations() -> int:
    """Fail operations no worker will finish: past their deadline, or never picked up.

    First, queue again what a worker process was running when it died with its whole
    worker or machine (a SIGKILLed parent takes its pool processes with it, and Redis
    hands the unacknowledged task to another worker only after its visibility
    timeout, an hour): the next claim takes it over, as it does a task Celery hands
    back.
    """
    requeue_lost_operations()
    now = timezone.now()
    reaped = 0
    for operation in Operation.objects.filter(status=OperationStatus.RUNNING, deadline_at__lt=now):
        _finish(
            operation,
            OperationStatus.FAILED,
            error=(
                f"no worker reported back by its deadline ({operation.deadline_at:%H:%M:%S} UTC); "
                "the worker running it was probably lost"
            ),
        )
        reaped += 1
    never_started = now - timedelta(seconds=settings.BERTH_PENDING_TIMEOUT)
    for operation in Operation.objects.filter(
        status=OperationStatus.PENDING, created_at__lt=never_started
    ):
        _finish(
            operation,
            OperationStatus.FAILED,
            error=f"no worker picked it up within {settings.BERTH_PENDING_TIMEOUT} s "
            "(are the workers and Redis running?)",
        )
        reaped += 1
    return reaped


def requeue_lost_operations() -> list[int]:
    """Queue again every running operation whose worker process is gone.

    On this machine a process is judged by its pid, on another by the operation's
    heartbeat (``_claimer_lost``); a task queued twice is harmless, since only one
    claim of an operation succeeds.
    """
    requeued = []
    now = timezone.now()
    running = Operation.objects.filter(
        status=OperationStatus.RUNNING, deadline_at__gte=now
    ).exclude(claimed_by="")
    for operation in running:
        if not _claimer_lost(operation, now):
            continue
        log.warning(
            "operation %s: worker process %s is gone; queueing it again",
            operation.pk, operation.claimed_by,
        )  # fmt: skip
        enqueue(operation)
        requeued.append(operation.pk)
    return requeued


# --- the audit trail of changes made in a request -------------------------------------------


def audit_value(value: Any) -> Any:
    """``value`` as plain JSON for an audit record: a row by its name, times as ISO text."""
    if isinstance(value, Model):
        return str(value)
    if isinstance(value, dict):
        return {str(key): audit_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset) or hasattr(value, "model"):
        items = [audit_value(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def record_change(
    action: str,
    target: Model,
    *,
    actor: Actor,
    fields: dict[str, Any] | None = None,
    host: Host | None = None,
    result: Any = None,
) -> Operation:
    """Record a create, update or delete made inside the request (nothing runs on a host).

    ``fields`` are what was set, as plain JSON and with secrets redacted; a caller passes
    a secret's presence (``"password_changed": True``), never its value.
    """
    params = redact(audit_value(fields or {}))
    return record_operation(
        action=action, target=target, actor=actor, host=host, params=params, result=result
    )


def cancel_operation(operation: Operation, *, actor: Actor) -> Operation:
    """Cancel an operation (see ``request_cancel``) and record who asked."""
    operation = request_cancel(operation, actor=actor)
    record_operation(
        action="operation.cancel",
        target=operation,
        actor=actor,
        host=operation.host,
        params={"operation": operation.pk, "action": operation.action},
        result={"status": operation.status, "cancel_requested": operation.cancel_requested},
    )
    return operation
