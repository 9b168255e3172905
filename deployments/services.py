"""Services, revisions, rollouts: deploy a revision across hosts, health-gated, with
automatic rollback, one-click rollback to any earlier revision, and convergence of
hosts that missed a rollout."""

from __future__ import annotations

import contextvars
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Max, Q
from django.utils import timezone

from agent_link.errors import AgentError, AgentLinkError
from berth.labels import LabelSelector, LabelSelectorError
from containers.models import Container
from containers.secrets import resolve_env
from containers.services import read_containers
from hosts.agent import HostAgent
from hosts.choices import HostStatus
from hosts.models import Host, HostGroup
from operations.choices import OperationStatus
from operations.context import OperationCancelled, OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, record_change, request_cancel, submit
from policies.services import PolicyViolation, bind_sources, check_spec, refused_settings

from . import compose
from .audit import record_revision_created, record_service_saved
from .choices import ACTIVE_ROLLOUT_STATUSES, HostStep, RolloutKind, RolloutStatus, ServiceKind
from .models import Revision, Rollout, RolloutHost, Service

log = logging.getLogger(__name__)

# The operation action of each kind of rollout, named for what it does.
ROLLOUT_ACTIONS: dict[str, str] = {
    RolloutKind.DEPLOY: "service.deploy",
    RolloutKind.ROLLBACK: "service.rollback",
    RolloutKind.CONVERGE: "service.converge",
}
# Seconds between pings of a host's agent while its deploy is under way.
LINK_CHECK_EVERY = 5.0
# The labels Berth's deploys put on containers (the agent's ops/service/args.py).
SERVICE_LABEL = "berth.service"
STACK_LABEL = "berth.stack"
REVISION_LABEL = "berth.revision"
COMPONENT_LABEL = "berth.component"
# Steps at which a host's deploy is under way (the agent op sent, no answer yet).
IN_FLIGHT_STEPS = (HostStep.PULLING, HostStep.STARTING, HostStep.HEALTH_CHECKING)


# Agent progress steps, as the rollout shows them per host.
_AGENT_STEPS = {
    "pulling": HostStep.PULLING,
    "creating": HostStep.STARTING,
    "starting": HostStep.STARTING,
    "health-checking": HostStep.HEALTH_CHECKING,
    "switching": HostStep.HEALTH_CHECKING,
    "cleaning-up": HostStep.HEALTH_CHECKING,
}


class RolloutConflict(Exception):
    """The service already has a rollout in progress."""


class ConvergeNotWanted(RolloutConflict):
    """A convergence decided on state that is no longer true: the service's revision
    changed, or a rollout of it ended too recently for the hosts' reports to be trusted."""


# --- services and revisions ----------------------------------------------------------------


def target_hosts(service: Service) -> list[Host]:
    """The hosts a service runs on: listed hosts, its group's hosts, hosts matching its label."""
    listed = set(service.hosts.values_list("pk", flat=True))
    return _targets(listed, service.host_group, service.host_label)


def hosts_leaving(service: Service, **changes: Any) -> list[Host]:
    """The hosts that would stop being the service's targets if ``changes`` (``hosts``,
    ``host_group``, ``host_label``, as ``update_service`` takes them) were saved: what a
    page shows before the change is confirmed."""
    listed = (
        {host.pk for host in changes["hosts"]}
        if "hosts" in changes
        else set(service.hosts.values_list("pk", flat=True))
    )
    after = _targets(
        listed,
        changes.get("host_group", service.host_group),
        changes.get("host_label", service.host_label),
    )
    staying = {host.pk for host in after}
    return [host for host in target_hosts(service) if host.pk not in staying]


def _targets(listed: set[int], group: HostGroup | None, label: str) -> list[Host]:
    pks = set(listed)
    if group is not None:
        pks |= set(group.hosts.values_list("pk", flat=True))
    if label:
        pks |= set(Host.objects.filter(_label_q(label)).values_list("pk", flat=True))
    return list(Host.objects.filter(pk__in=pks).order_by("name"))


def _label_q(label: str) -> Q:
    """Hosts whose labels match a service's ``host_label``. One that cannot be read (kept
    from before selectors were checked) matches no host, never every host."""
    try:
        return LabelSelector.parse(label).q("labels")
    except LabelSelectorError as exc:
        log.warning("host_label %r targets no host: %s", label, exc.message)
        return Q(pk__isnull=True)


def target_host_ids(services: Iterable[Service]) -> dict[int, set[int]]:
    """The ids of each service's target hosts, resolved as ``target_hosts`` does, in at
    most four queries however many services there are."""
    services = list(services)
    targets: dict[int, set[int]] = {service.pk: set() for service in services}
    listed = Service.hosts.through.objects.filter(service_id__in=list(targets))
    for service_id, host_id in listed.values_list("service_id", "host_id"):
        targets[service_id].add(host_id)
    groups = {service.host_group_id for service in services if service.host_group_id}
    members: dict[int, set[int]] = defaultdict(set)
    in_groups = Host.groups.through.objects.filter(hostgroup_id__in=groups)
    for group_id, host_id in in_groups.values_list("hostgroup_id", "host_id") if groups else ():
        members[group_id].add(host_id)
    labels = sorted({service.host_label for service in services if service.host_label})
    matching: dict[str, set[int]] = defaultdict(set)
    if labels:
        # One query for all the selectors, each a boolean column of the host rows.
        conditions = {
            f"matches_{index}": ExpressionWrapper(_label_q(label), output_field=BooleanField())
            for index, label in enumerate(labels)
        }
        for pk, *matches in Host.objects.annotate(**conditions).values_list("pk", *conditions):
            for label, match in zip(labels, matches, strict=True):
                if match:
                    matching[label].add(pk)
    for service in services:
        if service.host_group_id:
            targets[service.pk] |= members[service.host_group_id]
        if service.host_label:
            targets[service.pk] |= matching[service.host_label]
    return targets


def create_service(
    *,
    name: str,
    actor: Actor,
    hosts: Iterable[Host] = (),
    host_group: HostGroup | None = None,
    host_label: str = "",
    first_revision: dict[str, Any] | None = None,
    kind: str = ServiceKind.SERVICE,
) -> Service:
    """A new service (or stack, ``kind``), recorded as ``service.create``, and with
    ``first_revision`` (the arguments of :func:`add_revision`) its revision 1. A first
    revision the policy refuses (or a compose file that is not valid) leaves no service
    behind."""
    with transaction.atomic():
        service = Service.objects.create(
            name=name, host_group=host_group, host_label=host_label, kind=kind
        )
        service.hosts.set(hosts)
        record_service_saved(service, actor=actor, created=True, changed={})
        if first_revision is not None:
            add_revision(service, actor=actor, **first_revision)
    return service


def add_revision(
    service: Service,
    *,
    spec: dict[str, Any] | None = None,
    compose_text: str | None = None,
    actor: Actor,
    health: dict[str, Any] | None = None,
    note: str = "",
    override: bool = False,
) -> Revision:
    """Check ``spec`` (a stack's: ``compose_text``) against the policy of every host the
    service targets now, then snapshot it as the service's next revision. Raises
    PolicyViolation, OverrideRefused for an ``override`` from someone who is not an
    admin, and for a stack compose.ComposeInvalid. An admin's override approves the
    revision (see :func:`grant_override`) and is audited."""
    hosts = target_hosts(service)
    if service.is_stack:
        if compose_text is None or spec is not None:
            raise compose.ComposeInvalid("compose", "a stack's revision is a compose file")
        if override:
            raise compose.ComposeInvalid(
                "compose", "policy_override is not available for stacks: change the file"
            )
        document = compose.parse(compose_text)
        check_stack(service.name, document, hosts, actor=actor)
        return create_revision(
            service, spec=document, compose_text=compose_text, health=health, note=note,
            actor=actor,
        )  # fmt: skip
    if spec is None:
        raise ValueError("a service's revision is a container spec")
    check_spec(spec, hosts, actor=actor, override=override)
    with transaction.atomic():
        revision = create_revision(service, spec=spec, health=health, note=note, actor=actor)
        if override:
            grant_override(revision)
            record_override(revision, spec, hosts, actor=actor)
    return revision


def check_stack(stack: str, document: dict[str, Any], hosts: list[Host], *, actor: Actor) -> None:
    """Every compose service of a stack passes the container security policy of each
    host, as a single-container service's spec does. Raises ComposeInvalid for a spec
    the container.run serializer refuses, and PolicyViolation naming the compose key
    (``services.web.volumes``) for one the policy refuses."""
    for part in compose.components(stack, document):
        try:
            check_spec(part.spec, hosts, actor=actor)
        except PolicyViolation as exc:
            key = compose.SPEC_KEYS.get(exc.field, exc.field)
            raise PolicyViolation(f"services.{part.name}.{key}", exc.message) from None


def check_revision(
    revision: Revision, hosts: list[Host], *, actor: Actor, override: bool = False
) -> None:
    """A revision about to be deployed, against the policies of ``hosts`` as they are
    now. Raises PolicyViolation (OverrideRefused, ComposeInvalid)."""
    if revision.service.is_stack:
        check_stack(revision.service.name, revision.spec, hosts, actor=actor)
    else:
        check_spec(revision.spec, hosts, actor=actor, override=override)


def grant_override(revision: Revision) -> None:
    """An admin approved this revision past the policy: its hosts' policy files grant its
    exact spec while it is current or being rolled out (policies.services.granted_specs),
    so the agent deploys it, and converging to it later still works."""
    if not revision.policy_override:
        revision.policy_override = True
        Revision.objects.filter(pk=revision.pk).update(policy_override=True)


def record_override(
    target: Revision | Rollout, spec: dict[str, Any], hosts: list[Host], *, actor: Actor
) -> None:
    """An admin went past the container security policy: say who, where, which binds and
    which settings (``revision.policy_override`` or ``rollout.policy_override``)."""
    record_change(
        f"{target._meta.model_name}.policy_override",
        target,
        actor=actor,
        fields={
            "binds": [source for _, source in bind_sources(spec)],
            "settings": refused_settings(spec, hosts),
            "hosts": [host.name for host in hosts],
        },
    )


def create_revision(
    service: Service,
    *,
    spec: dict[str, Any],
    compose_text: str = "",
    health: dict[str, Any] | None = None,
    note: str = "",
    actor: Actor = None,
) -> Revision:
    """Snapshot a new container spec (a stack's: the parsed ``compose_text``) as the
    service's next revision."""
    user = actor if isinstance(actor, User) and actor.is_authenticated else None
    with transaction.atomic():
        # Two revisions of one service made at once must not both take the next number.
        Service.objects.select_for_update().get(pk=service.pk)
        last = service.revisions.aggregate(last=Max("number"))["last"] or 0
        revision = Revision.objects.create(
            service=service,
            number=last + 1,
            image=compose.images(spec) if compose_text else spec["image"],
            spec=spec,
            compose=compose_text,
            health=health or {},
            author=user,
            author_name=user.get_username() if user else "system",
            note=note,
        )
        record_revision_created(revision, actor=actor)
        return revision


class NoSuchRevision(ValueError):
    """A revision number the service does not have, or nothing to deploy at all."""


def revision_numbered(service: Service, number: int) -> Revision:
    """The service's revision ``number``; NoSuchRevision says which numbers it has."""
    revision = Revision.objects.filter(service=service, number=number).first()
    if revision is None:
        newest = service.revisions.order_by("-number").values_list("number", flat=True).first()
        has = f"its revisions are 1 to {newest}" if newest else "it has no revision yet"
        raise NoSuchRevision(f"{service.name} has no revision {number}: {has}.")
    return revision


def revision_to_deploy(service: Service, number: int | None = None) -> Revision:
    """What a deploy rolls out: revision ``number``, or without one the newest that is
    not archived. Raises NoSuchRevision."""
    if number is not None:
        return revision_numbered(service, number)
    revision = newest_revision(service)
    if revision is None:
        raise NoSuchRevision("The service has no revision yet (or every one is archived).")
    return revision


def diff_revisions(old: Revision, new: Revision) -> list[dict[str, Any]]:
    """Field-by-field differences between two revisions' specs and health gates."""

    def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
        if isinstance(value, dict) and value:
            for key in value:
                flatten(f"{prefix}.{key}" if prefix else key, value[key], out)
        else:
            out[prefix] = value
        return out

    before = flatten("", {"spec": old.spec, "health": old.health, "digest": old.digest}, {})
    after = flatten("", {"spec": new.spec, "health": new.health, "digest": new.digest}, {})
    return [
        {"field": key, "from": before.get(key), "to": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def newest_revision(service: Service) -> Revision | None:
    """The revision a deploy that names none takes: the newest one not archived."""
    return service.revisions.filter(archived=False).order_by("-number").first()


class RevisionInUse(RolloutConflict):
    """The revision is what the service runs, or a rollout of it is in progress."""


def set_archived(revision: Revision, archived: bool, *, actor: Actor) -> Revision:
    """Archive a revision (set it aside: it stays in the history and can still be rolled
    back to, but a deploy that names no revision skips it) or bring it back, recorded as
    ``revision.archive`` or ``revision.unarchive``. Raises RevisionInUse for the
    service's current revision or one a rollout in progress is deploying."""
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=revision.service_id)
        revision = Revision.objects.select_for_update().get(pk=revision.pk)
        if archived and service.current_revision_id == revision.pk:
            raise RevisionInUse(
                f"revision {revision.number} is what {service.name} runs: deploy or roll "
                "back to another one first"
            )
        if (
            archived
            and service.rollouts.filter(
                revision=revision, status__in=ACTIVE_ROLLOUT_STATUSES
            ).exists()
        ):
            raise RevisionInUse(
                f"a rollout of revision {revision.number} of {service.name} is in progress"
            )
        if revision.archived != archived:
            revision.archived = archived
            revision.save(update_fields=["archived"])
            record_change(
                "revision.archive" if archived else "revision.unarchive",
                revision,
                actor=actor,
                fields={"service": service.name, "number": revision.number},
            )
    return revision


# --- starting rollouts -----------------------------------------------------------------------


def request_deploy(
    service: Service,
    revision: Revision,
    *,
    actor: Actor,
    batch_size: int = 0,
    max_failures: int = 1,
    health: dict[str, Any] | None = None,
    kind: str = RolloutKind.DEPLOY,
    hosts: Iterable[Host] | None = None,
    why: str = "",
) -> Rollout:
    """Start rolling ``revision`` out to the service's hosts (or to ``hosts``).

    Raises RolloutConflict when a rollout of the service is still in progress (or,
    for a convergence, when it is no longer wanted) and ValueError when there is
    nothing to deploy to. ``why`` says, for a convergence, what the hosts ran.
    """
    if revision.service_id != service.pk:
        raise ValueError(f"revision {revision.number} belongs to another service")
    if revision.archived and kind == RolloutKind.DEPLOY:
        raise ValueError(
            f"revision {revision.number} is archived: unarchive it to deploy it, or roll back to it"
        )
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        _make_way(locked, kind=kind, actor=actor)
        if locked.retiring:
            raise RolloutConflict(
                f"{service.name} is being retired: nothing is deployed to it any more"
            )
        if kind == RolloutKind.CONVERGE:
            _check_converge_wanted(locked, revision)
        targets = list(hosts) if hosts is not None else target_hosts(locked)
        if not targets:
            raise ValueError(f"{service.name} has no target hosts")
        rollout = Rollout.objects.create(
            service=locked,
            revision=revision,
            previous_revision=locked.current_revision,
            kind=kind,
            batch_size=batch_size,
            max_failures=max(max_failures, 1),
            health=health if health is not None else revision.health,
        )
        size = batch_size or len(targets)
        RolloutHost.objects.bulk_create(
            RolloutHost(rollout=rollout, host=host, batch=index // size)
            for index, host in enumerate(targets)
        )
        params: dict[str, Any] = {"rollout": rollout.pk, "revision": revision.number}
        if kind == RolloutKind.CONVERGE:
            # What the hosts ran, for the audit trail: a convergence that changes a
            # host's revision says so.
            params.update(hosts=[host.name for host in targets], found=why)
        rollout.operation = submit(
            action=ROLLOUT_ACTIONS[kind], target=locked, actor=actor, host=None, params=params
        )
        rollout.save(update_fields=["operation"])
    return rollout


def _make_way(service: Service, *, kind: str, actor: Actor) -> None:
    """Refuse a second rollout of a locked service while one is active.

    A rollout whose operation has already ended (cancelled before a worker took it,
    reaped) is closed here rather than blocking the service for good; a convergence
    nobody has started yet gives way to an operator's deploy or rollback.
    """
    for active in service.rollouts.filter(status__in=ACTIVE_ROLLOUT_STATUSES).select_related(
        "operation", "revision"
    ):
        operation = active.operation
        if operation is None or operation.finished:
            close_rollout(active, operation)
            continue
        if (
            active.kind == RolloutKind.CONVERGE
            and kind != RolloutKind.CONVERGE
            and operation.status == OperationStatus.PENDING
        ):
            request_cancel(operation, actor=actor)  # closes the rollout through the signal
            if not Rollout.objects.filter(
                pk=active.pk, status__in=ACTIVE_ROLLOUT_STATUSES
            ).exists():
                continue  # cancelled before a worker took it; a claimed one still conflicts
        raise RolloutConflict(
            f"rollout #{active.pk} of {service.name} (revision {active.revision.number}) "
            "is still in progress; wait for it or cancel it"
        )


def _check_converge_wanted(service: Service, revision: Revision) -> None:
    """Under the service's lock: converge only to the revision the service has now, and
    not while the hosts' last reports may predate the end of its latest rollout."""
    if service.current_revision_id != revision.pk:
        current = service.current_revision
        raise ConvergeNotWanted(
            f"{service.name} is now on revision {current.number if current else 'none'}, "
            f"not {revision.number}"
        )
    settle_from = timezone.now() - timedelta(seconds=settings.BERTH_CONVERGE_SETTLE)
    if service.rollouts.filter(finished_at__gte=settle_from).exists():
        raise ConvergeNotWanted(
            f"a rollout of {service.name} ended less than "
            f"{settings.BERTH_CONVERGE_SETTLE} s ago; its hosts' reports may predate it"
        )


def close_rollout(rollout: Rollout, operation: Operation | None) -> bool:
    """End a rollout whose operation ended without the runner ending it (cancelled before
    a worker took it, a time limit, the reaper, a bug). False when it had ended already."""
    if operation is not None and operation.status == OperationStatus.CANCELLED:
        status, reason = RolloutStatus.CANCELLED, operation.error or "cancelled"
    elif operation is not None:
        status = RolloutStatus.FAILED
        reason = f"its operation {operation.status}: {operation.error or 'no reason given'}"
    else:
        status, reason = RolloutStatus.FAILED, "its operation was deleted"
    with transaction.atomic():
        closed = Rollout.objects.filter(pk=rollout.pk, status__in=ACTIVE_ROLLOUT_STATUSES).update(
            status=status, reason=reason, finished_at=timezone.now()
        )
        if not closed:
            return False
        rollout.hosts.filter(step=HostStep.PENDING).update(step=HostStep.SKIPPED)
        rollout.hosts.filter(step__in=IN_FLIGHT_STEPS).update(
            step=HostStep.FAILED, message=f"interrupted: {reason}"
        )
    log.warning("rollout #%s of service %s closed: %s", rollout.pk, rollout.service_id, reason)
    return True


def on_operation_finished(sender: Any, operation: Operation, **kwargs: Any) -> None:
    """The rollout follows its operation: whatever ended the operation ends the rollout."""
    if operation.action not in ROLLOUT_ACTIONS.values():
        return
    for rollout in Rollout.objects.filter(operation=operation, status__in=ACTIVE_ROLLOUT_STATUSES):
        close_rollout(rollout, operation)


def request_rollback(
    service: Service, revision: Revision, *, actor: Actor, **strategy: Any
) -> Rollout:
    """Deploy an earlier revision again, by the digest pinned when it first deployed
    (a stack's: each compose service's)."""
    if not (revision.digests if service.is_stack else revision.digest):
        raise ValueError(
            f"revision {revision.number} was never deployed, so no image digest is pinned to it"
        )
    return request_deploy(service, revision, actor=actor, kind=RolloutKind.ROLLBACK, **strategy)


# --- retiring a service ---------------------------------------------------------------------

RETIRE_ACTION = "service.retire"


def retire_hosts(service: Service) -> list[Host]:
    """The hosts a retirement removes the service from: its targets, and every host
    Berth last saw running a container of it (a host that left its targets may still)."""
    mine = LabelSelector.parse([f"{owner_label(service)}={service.name}"])
    running = Container.objects.filter(mine.q("labels")).values_list("host_id", flat=True)
    pks = {host.pk for host in target_hosts(service)} | set(running)
    return list(Host.objects.filter(pk__in=pks).order_by("name"))


def request_retire(service: Service, *, actor: Actor) -> Operation:
    """Queue the retirement of a service: its containers are removed from every host
    (one operation, a result per host), then the service and its revisions go; the
    audit trail keeps what happened.

    Raises RolloutConflict while a rollout of the service is in progress (a
    convergence nobody has started yet gives way) or while another retirement of it
    is pending or running. From here on nothing deploys or converges the service; a
    retirement that could not reach every host leaves it retiring, to be retired again.
    """
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        _make_way(locked, kind=RolloutKind.DEPLOY, actor=actor)
        underway = Operation.objects.filter(
            action=RETIRE_ACTION,
            target_type="service",
            target_id=str(locked.pk),
            status__in=[OperationStatus.PENDING, OperationStatus.RUNNING],
        ).first()
        if underway is not None:
            raise RolloutConflict(
                f"{locked.name} is already being retired by operation #{underway.pk}"
            )
        locked.retiring = True
        locked.save(update_fields=["retiring"])
        return _submit_removal(RETIRE_ACTION, locked, retire_hosts(locked), actor=actor)


@action(RETIRE_ACTION, time_limit=1800, retry_transport=False)
def _run_retire(operation: Operation, context: OperationContext) -> dict[str, Any]:
    service = Service.objects.filter(pk=operation.params["service"]).first()
    if service is None:  # delivered twice: the first run finished the job
        return {"hosts": {}}
    removed, failed = _remove_from(service, retire_hosts(service))
    context.progress(force=True, removed=sorted(removed), failed=sorted(failed))
    if failed:
        raise OperationFailed(
            f"{service.name} could not be removed from {len(failed)} host(s) "
            f"({_reasons(failed)}); "
            "it stays retiring, with nothing deployed to it: retire it again once the "
            "host is back"
        )
    with transaction.atomic():
        # Rollouts first: a rollout protects its revision from going on its own.
        Rollout.objects.filter(service=service).delete()
        Service.objects.filter(pk=service.pk).delete()
    return {"service": service.name, "hosts": removed}


# --- hosts that leave a service's targets ---------------------------------------------------


def update_service(
    service: Service, *, actor: Actor, **changes: Any
) -> tuple[Service, Operation | None]:
    """Change where a service runs (``hosts``, ``host_group``, ``host_label``), recorded
    as ``service.update``. Hosts that leave its targets lose its containers: a queued
    ``service.remove``, returned (None when no host left), which waits for a rollout
    of the service in progress to end first."""
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        before = target_hosts(locked)
        hosts = changes.pop("hosts", None)
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save()
        if hosts is not None:
            locked.hosts.set(hosts)
            changes["hosts"] = hosts
        record_service_saved(locked, actor=actor, created=False, changed=changes)
        now = {host.pk for host in target_hosts(locked)}
        left = [host for host in before if host.pk not in now]
        if not left:
            return locked, None
        return locked, request_withdraw(locked, left, actor=actor)


WITHDRAW_ACTION = "service.remove"


def request_withdraw(service: Service, hosts: Iterable[Host], *, actor: Actor) -> Operation:
    """Queue the removal of the service's containers from ``hosts``, which are no longer
    among its targets (recorded as ``service.remove``, a result per host). A host that
    is a target again by the time the worker runs is left alone."""
    return _submit_removal(WITHDRAW_ACTION, service, hosts, actor=actor)


def _submit_removal(
    action_name: str, service: Service, hosts: Iterable[Host], *, actor: Actor
) -> Operation:
    """Queue ``action_name`` (a retirement or a removal), naming the hosts it is for."""
    names = sorted(host.name for host in hosts)
    return submit(
        action=action_name,
        target=service,
        actor=actor,
        host=None,
        params={"service": service.pk, "hosts": names},
    )


# How long a removal waits for a rollout of its service to end: a rollout's own limit.
WITHDRAW_WAIT = 3600


@action(WITHDRAW_ACTION, time_limit=WITHDRAW_WAIT + 1800, retry_transport=False)
def _run_withdraw(operation: Operation, context: OperationContext) -> dict[str, Any]:
    service = Service.objects.filter(pk=operation.params["service"]).first()
    if service is None:
        return {"hosts": {}}
    # A rollout started before the change deploys to its own list of hosts, which may
    # hold one that left: remove once it has ended, so nothing it deploys stays behind.
    deadline = time.monotonic() + WITHDRAW_WAIT
    while service.rollouts.filter(status__in=ACTIVE_ROLLOUT_STATUSES).exists():
        if context.cancel_requested():
            raise OperationCancelled("cancelled while waiting for a rollout to end")
        if time.monotonic() > deadline:
            raise OperationFailed(
                f"a rollout of {service.name} still runs after {WITHDRAW_WAIT} s; nothing "
                "was removed"
            )
        context.progress(waiting=f"for the rollout of {service.name} in progress to end")
        time.sleep(1)
    targets = {host.pk for host in target_hosts(service)}
    hosts = Host.objects.filter(name__in=operation.params["hosts"]).exclude(pk__in=targets)
    outcome, failed = _remove_from(service, list(hosts))
    context.progress(force=True, removed=sorted(outcome), failed=sorted(failed))
    if failed:
        raise OperationFailed(f"{service.name} could not be removed from {_reasons(failed)}")
    return {"service": service.name, "hosts": outcome}


def _remove_from(service: Service, hosts: list[Host]) -> tuple[dict[str, str], dict[str, str]]:
    """Remove every container of ``service`` from each host at once: what each host
    reported, and why the hosts that failed did."""
    removed: dict[str, str] = {}
    failed: dict[str, str] = {}

    def remove(host: Host) -> None:
        agent = HostAgent(host)
        try:
            agent.ensure_live()
            op, args = remove_op(service)
            result = agent.call(op, args, timeout=360)
        except (AgentError, AgentLinkError) as exc:
            failed[host.name] = str(exc)
            return
        removed[host.name] = f"{len(result.get('removed', []))} container(s) removed"
        _refresh_containers(agent)

    at_once(remove, hosts)
    return removed, failed


def _reasons(failed: dict[str, str]) -> str:
    """ "h2: why; h3: why", by host name."""
    return "; ".join(f"{name}: {why}" for name, why in sorted(failed.items()))


def at_once(work: Any, items: Iterable[Any]) -> None:
    """Run ``work(item)`` for every item at once, a thread each (at most 32), each with
    its own database connection and the caller's logging context."""
    items = list(items)
    if not items:
        return

    def run(item: Any) -> None:
        try:
            work(item)
        finally:
            connection.close()  # this thread's own database connection

    with ThreadPoolExecutor(max_workers=min(len(items), 32)) as executor:
        # Each thread runs in a copy of this one's context, so what it logs names the
        # operation and its host like the rest of the run.
        runs = [executor.submit(contextvars.copy_context().run, run, item) for item in items]
        for future in runs:
            future.result()


# --- running a rollout ----------------------------------------------------------------------


@action("service.deploy", time_limit=3600, retry_transport=False)
@action("service.rollback", time_limit=3600, retry_transport=False)
@action("service.converge", time_limit=3600, retry_transport=False)
def _run_rollout(operation: Operation, context: OperationContext) -> dict[str, Any]:
    rollout = Rollout.objects.select_related("service", "revision", "previous_revision").get(
        pk=operation.params["rollout"]
    )
    return RolloutRunner(rollout, context).run()


class RolloutRunner:
    """Runs one rollout: batches of hosts in parallel, each host one agent op."""

    def __init__(self, rollout: Rollout, context: OperationContext) -> None:
        self.rollout = rollout
        self.context = context
        self.cancelled = False

    def run(self) -> dict[str, Any]:
        rollout = self.rollout
        if rollout.status not in ACTIVE_ROLLOUT_STATUSES:
            return {"status": rollout.status}  # ended already: closed, or delivered twice
        # A rollout already running was interrupted (its worker lost, the task delivered
        # again): it resumes, trusting no step it recorded until the host confirms it.
        resuming = rollout.status == RolloutStatus.RUNNING
        rollout.status = RolloutStatus.RUNNING
        rollout.save(update_fields=["status"])
        steps = list(rollout.hosts.select_related("host__ssh_key", "host__jump_host__ssh_key"))
        if resuming:
            self._confirm_on_hosts(steps, rollout.revision)
        failures = sum(1 for step in steps if step.step == HostStep.FAILED)
        for batch in sorted({step.batch for step in steps}):
            if failures >= rollout.max_failures:
                break
            if self.context.cancel_requested():
                self.cancelled = True
                break
            members = [
                step for step in steps if step.batch == batch and step.step == HostStep.PENDING
            ]
            self._in_parallel(members, rollout.revision)
            failures = sum(1 for step in steps if step.step == HostStep.FAILED)
            self._report(steps)
        for step in steps:
            if step.step == HostStep.PENDING:
                step.step = HostStep.SKIPPED
                step.save(update_fields=["step"])
        if self.cancelled or failures >= rollout.max_failures:
            return self._undo(steps, failures)
        return self._complete(steps, failures)

    def _confirm_on_hosts(self, steps: list[RolloutHost], revision: Revision) -> None:
        """After an interruption: a host recorded done counts as done only if it runs
        exactly the revision's set of containers (a service's: one), all running. Every
        other started host is redone: a deploy cut off mid-way may still be finishing, or
        undoing, on the host, and the agent's deploy waits for it and then replaces
        whatever containers of the service it finds."""
        for step in steps:
            if step.step in IN_FLIGHT_STEPS:
                step.step = HostStep.PENDING
                step.message = "interrupted; deploying again"
                step.save(update_fields=["step", "message"])
        started = [step for step in steps if step.step == HostStep.DONE]

        def confirm(step: RolloutHost) -> None:
            try:
                agent = HostAgent(step.host)
                agent.ensure_live()
                containers = _service_containers(agent, self.rollout.service)
            except (AgentError, AgentLinkError) as exc:
                containers = []
                log.info("could not check %s after an interruption: %s", step.host.name, exc)
            running = all(c["state"] == "running" for c in containers)
            if running and runs_revision([c["labels"] for c in containers], revision):
                step.step = HostStep.DONE
                step.container_id = containers[0]["id"]
                names = ", ".join(sorted(c["name"] for c in containers))
                step.message = f"{names} confirmed on revision {revision.number}"
            else:
                step.step = HostStep.PENDING
                step.message = "interrupted; deploying again"
            step.save(update_fields=["step", "container_id", "message"])

        at_once(confirm, started)

    def _complete(self, steps: list[RolloutHost], failures: int) -> dict[str, Any]:
        rollout = self.rollout
        if rollout.kind != RolloutKind.CONVERGE:
            # A convergence brings hosts to the current revision; it never sets it.
            Service.objects.filter(pk=rollout.service_id).update(current_revision=rollout.revision)
        rollout.status = RolloutStatus.PARTIAL if failures else RolloutStatus.SUCCEEDED
        done = sum(1 for step in steps if step.step == HostStep.DONE)
        rollout.reason = f"{done} of {len(steps)} host(s) run revision {rollout.revision.number}"
        if failures:
            failed = ", ".join(s.host.name for s in steps if s.step == HostStep.FAILED)
            rollout.reason += f"; {failed} failed and will converge on a later refresh"
        self._finish()
        return self._summary(steps)

    def _undo(self, steps: list[RolloutHost], failures: int) -> dict[str, Any]:
        """Stop: put every host this rollout switched back on the previous revision."""
        rollout = self.rollout
        cancelled = self.cancelled and not failures
        previous = rollout.previous_revision
        if cancelled:
            reason = "cancelled"
        else:
            first = next(step for step in steps if step.step == HostStep.FAILED)
            reason = f"{failures} host(s) failed ({first.host.name}: {first.message})"
        switched = [step for step in steps if step.step == HostStep.DONE]
        if switched:
            self.cancelled = False  # the undo itself must run to the end
            self._in_parallel(switched, previous, undo=True)
            back_to = f"revision {previous.number}" if previous else "no deployment"
            reason += f"; {len(switched)} host(s) rolled back to {back_to}"
        # Hosts that failed were put back by the agent itself, so either way every
        # host is on its previous revision now.
        rollout.status = RolloutStatus.CANCELLED if cancelled else RolloutStatus.ROLLED_BACK
        rollout.reason = reason
        self._finish()
        self._report(steps)
        if cancelled:
            raise OperationCancelled(reason)
        raise OperationFailed(f"rollout stopped: {reason}")

    def _finish(self) -> None:
        """Record the rollout's end, unless something else ended it meanwhile (the reaper
        failed its operation): the operation owns that, and its outcome stands."""
        rollout = self.rollout
        rollout.finished_at = timezone.now()
        Rollout.objects.filter(pk=rollout.pk, status=RolloutStatus.RUNNING).update(
            status=rollout.status, reason=rollout.reason, finished_at=rollout.finished_at
        )

    def _report(self, steps: list[RolloutHost]) -> None:
        counts: dict[str, int] = {}
        for step in steps:
            counts[step.step] = counts.get(step.step, 0) + 1
        self.context.progress(force=True, hosts=len(steps), steps=counts)

    def _summary(self, steps: list[RolloutHost]) -> dict[str, Any]:
        return {
            "rollout": self.rollout.pk,
            "status": self.rollout.status,
            "revision": self.rollout.revision.number,
            "digest": Revision.objects.get(pk=self.rollout.revision_id).digest,
            "hosts": {step.host.name: step.step for step in steps},
        }

    def _in_parallel(
        self, steps: list[RolloutHost], revision: Revision | None, undo: bool = False
    ) -> None:
        if undo:
            at_once(lambda step: self._undo_host(step, revision), steps)
        else:
            at_once(lambda step: self._deploy_host(step, revision), steps)  # type: ignore[arg-type]

    def _deploy_host(self, step: RolloutHost, revision: Revision) -> None:
        step.started_at = timezone.now()
        step.step = HostStep.PULLING
        step.save(update_fields=["step", "started_at"])
        try:
            result = self._agent_deploy(step, revision)
        except AgentError as exc:
            if exc.code == "cancelled" and self.cancelled:
                # Our own cancel: the agent stopped and put the host back as it was.
                # Not a failure, or a cancel would read as a failed, rolled-back rollout.
                step.step = HostStep.ROLLED_BACK
                step.message = f"cancelled; the host stayed as it was ({exc.message})"
            else:
                step.step = HostStep.FAILED
                step.message = exc.message
        except AgentLinkError as exc:
            step.step = HostStep.FAILED
            step.message = str(exc)
        else:
            step.step = HostStep.DONE
            health = result.get("health", "running")
            if "containers" in result:  # a stack's
                step.container_id = result["containers"][0]["id"] if result["containers"] else ""
                count = len(result["containers"])
                step.message = f"{count} container(s) of revision {revision.number} are {health}"
                pins = {name: ref for name, ref in (result.get("digests") or {}).items() if ref}
                if pins and not revision.digests:
                    # The first host to resolve the references pins the digests for good.
                    Revision.objects.filter(pk=revision.pk, digests={}).update(digests=pins)
                    revision.digests = pins
            else:
                step.container_id = result["container"]["id"]
                step.message = f"{result['container']['name']} is {health}"
            if result.get("digest") and not revision.digest:
                # The first host to resolve the reference pins the digest for good.
                Revision.objects.filter(pk=revision.pk, digest="").update(digest=result["digest"])
                revision.digest = result["digest"]
        step.finished_at = timezone.now()
        step.save(update_fields=["step", "message", "container_id", "finished_at"])

    def _undo_host(self, step: RolloutHost, previous: Revision | None) -> None:
        try:
            if previous is not None:
                self._agent_deploy(step, previous, track=False)
                step.message = f"back on revision {previous.number}"
            else:
                op, args = remove_op(self.rollout.service)
                HostAgent(step.host).call(op, args, timeout=120)
                step.message = "removed: the service had no earlier revision"
            step.step = HostStep.ROLLED_BACK
        # MissingSecret and SecretOutOfScope are AgentErrors
        except (AgentError, AgentLinkError) as exc:
            step.message = f"rollback failed: {exc}"
        step.save(update_fields=["step", "message"])

    def _agent_deploy(
        self, step: RolloutHost, revision: Revision, track: bool = True
    ) -> dict[str, Any]:
        """Deploy ``revision`` on the step's host and wait for the agent's answer; with
        ``track``, the agent's steps show on the rollout and a cancel reaches the agent
        (an undo, ``track=False``, always runs to its end)."""
        host = step.host
        agent = HostAgent(host)
        agent.ensure_live()
        # The host's policy file as the policy is now: a change since the link opened
        # must reach the agent, which checks the spec against it again.
        agent.sync_policy()
        op, args = self._deploy_args(revision, host)
        shown = step.step

        def on_progress(event: dict[str, Any]) -> None:
            nonlocal shown
            agent_step = _AGENT_STEPS.get(str(event.get("step", "")))
            if agent_step and agent_step != shown:
                shown = agent_step
                RolloutHost.objects.filter(pk=step.pk).update(step=agent_step)

        timeout = float(settings.BERTH_DEPLOY_HOST_TIMEOUT)
        result: dict[str, Any] = agent.call(
            op,
            args,
            timeout=timeout,
            on_progress=on_progress if track else None,
            cancel=self._cancel_wanted if track else None,
            # A cancelled deploy undoes itself on the host: its answer is worth waiting for.
            cancel_grace=timeout,
            # A cut cable shows no error on an idle SSH connection for minutes; the agent
            # finishes or undoes the deploy on its own, and convergence settles the host.
            watch_link=LINK_CHECK_EVERY,
        )
        _refresh_containers(agent)
        return result

    def _deploy_args(self, revision: Revision, host: Host) -> tuple[str, dict[str, Any]]:
        """The agent op that deploys ``revision`` on ``host`` and its arguments: the one
        place a stack's rollout differs from a service's."""
        service = self.rollout.service
        if service.is_stack:
            try:
                plan = compose.agent_plan(service.name, revision.spec)
            except compose.ComposeInvalid as exc:
                # Checked when it was made; what it names may have changed since (a
                # secret deleted): that host's deploy fails saying so, as a service's.
                raise AgentError("invalid_argument", f"revision {revision.number}: {exc}") from None
            for part in plan["components"]:
                pinned = revision.digests.get(part["name"])
                # Secrets named by the specs are looked up only here, for the agent alone.
                part["spec"] = resolve_env(
                    {**part["spec"], "image": pinned or part["spec"]["image"]}, host
                )
            health = self.rollout.health or revision.health or {}
            args = {"stack": service.name, "revision": revision.number, **plan}
            if health.get("timeout_s"):
                args["health_timeout_s"] = health["timeout_s"]
            return "stack.deploy", args
        return "service.deploy", {
            "service": service.name,
            "revision": revision.number,
            # Secrets named by the spec are looked up only here, for the agent alone.
            "spec": resolve_env({**revision.spec, "image": revision.deploy_image}, host),
            "health": self.rollout.health or revision.health or {"mode": "docker"},
        }

    def _cancel_wanted(self) -> bool:
        """Whether the rollout was cancelled (asked from each host's thread)."""
        if not self.cancelled and self.context.cancel_requested():
            self.cancelled = True
        return self.cancelled


def _refresh_containers(agent: HostAgent) -> None:
    try:
        _service_containers(agent, None)
    except (AgentError, AgentLinkError) as exc:
        log.info("could not re-read containers of %s after a deploy: %s", agent.host.name, exc)


def _service_containers(agent: HostAgent, service: Service | None) -> list[dict[str, Any]]:
    """Read the host's containers (storing them, as a refresh would) and return those
    of ``service`` (every container when None)."""
    reported = read_containers(agent, timeout=30)
    if service is None:
        return list(reported)
    label = owner_label(service)
    return [c for c in reported if (c.get("labels") or {}).get(label) == service.name]


def owner_label(service: Service) -> str:
    """The label naming the service on each of its containers."""
    return STACK_LABEL if service.is_stack else SERVICE_LABEL


def remove_op(service: Service) -> tuple[str, dict[str, Any]]:
    """The agent op (and its arguments) removing the service's containers from a host.
    A stack's named volumes stay: they hold its data (docs/stacks.md)."""
    if service.is_stack:
        return "stack.remove", {"stack": service.name}
    return "service.remove", {"service": service.name}


def runs_revision(labels: list[dict[str, str]], revision: Revision) -> bool:
    """Whether containers with these labels are exactly the revision's set: for a
    service one container, for a stack each compose service's replicas, all labelled
    with the revision."""
    want: Counter[str] = Counter({"": 1})
    if revision.compose:
        want = Counter(
            {
                name: (service.get("deploy") or {}).get("replicas", 1)
                for name, service in revision.spec["services"].items()
            }
        )
    got = Counter(
        item.get(COMPONENT_LABEL, "")
        for item in labels
        if item.get(REVISION_LABEL) == str(revision.number)
    )
    return len(labels) == sum(want.values()) and got == want


# --- convergence ------------------------------------------------------------------------------


def converge_host(host: Host) -> list[Rollout]:
    """Start a one-host rollout for every service whose current revision the host lacks.

    Called after each refresh of an online host: a host added to a service's targets,
    or one that was unreachable during a rollout, catches up without duplicates
    (the agent's deploy replaces whatever containers of the service it finds).

    Convergence fixes revisions, not states: a stopped, restarting or unhealthy
    container of the current revision is left alone (an operator's stop, or Berth's
    own restart, is not drift). It never acts while a rollout of the service runs, nor
    within ``BERTH_CONVERGE_SETTLE`` seconds after one ended (the refresh that got here
    may have read the host before that rollout switched it), and ``deploy`` checks both
    again, with the current revision, under the service's lock.
    """
    started: list[Rollout] = []
    services = list(
        Service.objects.filter(current_revision__isnull=False, retiring=False).select_related(
            "current_revision", "host_group"
        )
    )
    if not services:
        return started  # the common case on every refresh: nothing deployed yet
    running: dict[str, list[Any]] = {}
    mine = Q(labels__has_key=SERVICE_LABEL) | Q(labels__has_key=STACK_LABEL)
    for container in host.containers.filter(mine):
        owner = container.labels.get(SERVICE_LABEL) or container.labels.get(STACK_LABEL)
        running.setdefault(owner, []).append(container)
    settle_from = timezone.now() - timedelta(seconds=settings.BERTH_CONVERGE_SETTLE)
    busy = set(
        Rollout.objects.filter(
            Q(status__in=ACTIVE_ROLLOUT_STATUSES) | Q(finished_at__gte=settle_from),
            service__in=services,
        ).values_list("service_id", flat=True)
    )
    for service in services:
        if service.pk in busy or host.pk not in {target.pk for target in target_hosts(service)}:
            continue
        revision = service.current_revision
        assert revision is not None
        containers = [c for c in running.get(service.name, []) if owner_label(service) in c.labels]
        revisions = sorted({c.labels.get(REVISION_LABEL, "?") for c in containers})
        if runs_revision([c.labels for c in containers], revision):
            continue
        recent = Rollout.objects.filter(
            service=service,
            kind=RolloutKind.CONVERGE,
            hosts__host=host,
            created_at__gte=timezone.now() - timedelta(seconds=settings.BERTH_CONVERGE_COOLDOWN),
        ).exclude(status__in=[RolloutStatus.SUCCEEDED])
        if recent.exists():
            continue  # it just tried and failed: do not hammer the host
        found = ", ".join(f"r{number}" for number in revisions) or "nothing"
        log.info(
            "converging %s on %s to revision %d: it runs %d container(s) (%s)",
            service.name, host.name, revision.number, len(containers), found,
        )  # fmt: skip
        try:
            started.append(
                request_deploy(
                    service,
                    revision,
                    actor=None,
                    kind=RolloutKind.CONVERGE,
                    hosts=[host],
                    why=f"{host.name} ran {found}",
                )
            )
        except (RolloutConflict, ValueError) as exc:
            log.info("not converging %s on %s now: %s", service.name, host.name, exc)
    return started


def on_host_refreshed(sender: Any, host: Host, **kwargs: Any) -> None:
    if host.status == HostStatus.ONLINE:
        converge_host(host)
