"""Services, revisions, rollouts: deploy a revision across hosts, health-gated, with
automatic rollback, one-click rollback to any earlier revision, and convergence of
hosts that missed a rollout."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Max, Q
from django.utils import timezone

from hosts import services as host_services
from hosts.agent_link.errors import AgentError, AgentLinkError, AgentTimeout, SessionClosed
from hosts.agent_link.pool import pool
from hosts.choices import HostStatus
from hosts.filtersets import filter_by_labels, labels_q
from hosts.models import Host
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import submit

from .choices import ACTIVE_ROLLOUT_STATUSES, HostStep, RolloutKind, RolloutStatus
from .models import Revision, Rollout, RolloutHost, Service

log = logging.getLogger(__name__)

Actor = User | AnonymousUser | None

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


# --- services and revisions ----------------------------------------------------------------


def target_hosts(service: Service) -> list[Host]:
    """The hosts a service runs on: listed hosts, its group's hosts, hosts matching its label."""
    pks = set(service.hosts.values_list("pk", flat=True))
    if service.host_group_id:
        pks |= set(service.host_group.hosts.values_list("pk", flat=True))  # type: ignore[union-attr]
    if service.host_label:
        selectors = [part for part in service.host_label.split(",") if part]
        pks |= set(
            filter_by_labels(Host.objects.all(), "labels", selectors).values_list("pk", flat=True)
        )
    return list(Host.objects.filter(pk__in=pks).order_by("name"))


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
            f"matches_{index}": ExpressionWrapper(
                labels_q("labels", [part for part in label.split(",") if part])
                or Q(pk__isnull=False),
                output_field=BooleanField(),
            )
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


def create_revision(
    service: Service,
    *,
    spec: dict[str, Any],
    health: dict[str, Any] | None = None,
    note: str = "",
    actor: Actor = None,
) -> Revision:
    """Snapshot a new container spec as the service's next revision."""
    user = actor if isinstance(actor, User) and actor.is_authenticated else None
    with transaction.atomic():
        # Two revisions of one service made at once must not both take the next number.
        Service.objects.select_for_update().get(pk=service.pk)
        last = service.revisions.aggregate(last=Max("number"))["last"] or 0
        return Revision.objects.create(
            service=service,
            number=last + 1,
            image=spec["image"],
            spec=spec,
            health=health or {},
            author=user,
            author_name=user.get_username() if user else "system",
            note=note,
        )


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


# --- starting rollouts -----------------------------------------------------------------------


def deploy(
    service: Service,
    revision: Revision,
    *,
    actor: Actor,
    batch_size: int = 0,
    max_failures: int = 1,
    health: dict[str, Any] | None = None,
    kind: str = RolloutKind.DEPLOY,
    hosts: Iterable[Host] | None = None,
) -> Rollout:
    """Start rolling ``revision`` out to the service's hosts (or to ``hosts``).

    Raises RolloutConflict when a rollout of the service is still in progress and
    ValueError when there is nothing to deploy to.
    """
    if revision.service_id != service.pk:
        raise ValueError(f"revision {revision.number} belongs to another service")
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        active = locked.rollouts.filter(status__in=ACTIVE_ROLLOUT_STATUSES).first()
        if active is not None:
            raise RolloutConflict(
                f"rollout #{active.pk} of {service.name} (revision {active.revision.number}) "
                "is still in progress; wait for it or cancel it"
            )
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
        rollout.operation = submit(
            action="service.rollout",
            target=locked,
            actor=actor,
            host=None,
            params={"rollout": rollout.pk, "revision": revision.number, "kind": kind},
        )
        rollout.save(update_fields=["operation"])
    return rollout


def rollback(service: Service, revision: Revision, *, actor: Actor, **strategy: Any) -> Rollout:
    """Deploy an earlier revision again, by the digest pinned when it first deployed."""
    if not revision.digest:
        raise ValueError(
            f"revision {revision.number} was never deployed, so no image digest is pinned to it"
        )
    return deploy(service, revision, actor=actor, kind=RolloutKind.ROLLBACK, **strategy)


# --- running a rollout ----------------------------------------------------------------------


@action("service.rollout", time_limit=3600, retry_transport=False)
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
            return {"status": rollout.status}  # a re-delivered task: this one already ran
        rollout.status = RolloutStatus.RUNNING
        rollout.save(update_fields=["status"])
        steps = list(rollout.hosts.select_related("host__ssh_key", "host__jump_host__ssh_key"))
        failures = 0
        for batch in sorted({step.batch for step in steps}):
            if self.context.cancel_requested():
                self.cancelled = True
                break
            members = [step for step in steps if step.batch == batch]
            self._in_parallel(members, rollout.revision)
            failures = sum(1 for step in steps if step.step == HostStep.FAILED)
            self._report(steps)
            if failures >= rollout.max_failures:
                break
        for step in steps:
            if step.step == HostStep.PENDING:
                step.step = HostStep.SKIPPED
                step.save(update_fields=["step"])
        if self.cancelled or failures >= rollout.max_failures:
            return self._undo(steps, failures)
        return self._complete(steps, failures)

    def _complete(self, steps: list[RolloutHost], failures: int) -> dict[str, Any]:
        rollout = self.rollout
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
        raise OperationFailed(f"rollout stopped: {reason}")

    def _finish(self) -> None:
        self.rollout.finished_at = timezone.now()
        self.rollout.save(update_fields=["status", "reason", "finished_at"])

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
        if not steps:
            return
        with ThreadPoolExecutor(max_workers=min(len(steps), 32)) as executor:
            list(executor.map(lambda step: self._on_host(step, revision, undo), steps))

    def _on_host(self, step: RolloutHost, revision: Revision | None, undo: bool) -> None:
        try:
            if undo:
                self._undo_host(step, revision)
            else:
                self._deploy_host(step, revision)  # type: ignore[arg-type]
        finally:
            connection.close()  # this thread's own database connection

    def _deploy_host(self, step: RolloutHost, revision: Revision) -> None:
        step.started_at = timezone.now()
        step.step = HostStep.PULLING
        step.save(update_fields=["step", "started_at"])
        try:
            result = self._agent_deploy(step, revision)
        except (AgentError, AgentLinkError) as exc:
            step.step = HostStep.FAILED
            step.message = exc.message if isinstance(exc, AgentError) else str(exc)
        else:
            step.step = HostStep.DONE
            step.container_id = result["container"]["id"]
            step.message = f"{result['container']['name']} is {result.get('health', 'running')}"
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
                link = host_services.agent_link(step.host)
                link.session.call(
                    "service.remove", {"service": self.rollout.service.name}, timeout=120
                )
                step.message = "removed: the service had no earlier revision"
            step.step = HostStep.ROLLED_BACK
        except (AgentError, AgentLinkError) as exc:
            step.message = f"rollback failed: {exc}"
        step.save(update_fields=["step", "message"])

    def _agent_deploy(
        self, step: RolloutHost, revision: Revision, track: bool = True
    ) -> dict[str, Any]:
        host = step.host
        latest: dict[str, str] = {}
        link = _live_link(host)
        args = {
            "service": self.rollout.service.name,
            "revision": revision.number,
            "spec": {**revision.spec, "image": revision.deploy_image},
            "health": self.rollout.health or revision.health or {"mode": "docker"},
        }
        request = link.session.request(
            "service.deploy",
            args,
            on_progress=lambda event: latest.update(step=str(event.get("step", ""))),
        )
        deadline = timezone.now() + timedelta(seconds=settings.BERTH_DEPLOY_HOST_TIMEOUT)
        shown = step.step
        try:
            while not request.done_within(0.5):
                agent_step = _AGENT_STEPS.get(latest.get("step", ""))
                if track and agent_step and agent_step != shown:
                    shown = agent_step
                    RolloutHost.objects.filter(pk=step.pk).update(step=agent_step)
                if track and not self.cancelled and self.context.cancel_requested():
                    self.cancelled = True
                if self.cancelled and track:
                    request.session.cancel(request.id)
                if timezone.now() > deadline:
                    raise AgentTimeout(
                        f"no answer from {host.name} within {settings.BERTH_DEPLOY_HOST_TIMEOUT} s"
                    )
            result = request.wait(0)
        except (AgentTimeout, SessionClosed):
            pool.discard(host.pk)
            raise
        _refresh_containers(host, link)
        return result


def _live_link(host: Host) -> Any:
    """The host's link, checked with a ping first: a deploy waits minutes for its answer,
    so a connection that died quietly (a cut cable) must not be trusted with one."""
    link = host_services.agent_link(host)
    try:
        link.session.call("ping", timeout=settings.BERTH_SSH_CONNECT_TIMEOUT)
    except (AgentTimeout, SessionClosed):
        pool.discard(host.pk)
        link = host_services.agent_link(host)  # a fresh connection, or a clear failure
    return link


def _refresh_containers(host: Host, link: Any) -> None:
    from containers.services import reconcile_containers

    try:
        reconcile_containers(host, link.session.call("containers.list", {"all": True}, timeout=30))
    except (AgentError, AgentLinkError) as exc:
        log.info("could not re-read containers of %s after a deploy: %s", host.name, exc)


# --- convergence ------------------------------------------------------------------------------


def converge_host(host: Host) -> list[Rollout]:
    """Start a one-host rollout for every service whose current revision the host lacks.

    Called after each refresh of an online host: a host added to a service's targets,
    or one that was unreachable during a rollout, catches up without duplicates
    (the agent's deploy replaces whatever containers of the service it finds).
    """
    started: list[Rollout] = []
    services = list(
        Service.objects.filter(current_revision__isnull=False).select_related(
            "current_revision", "host_group"
        )
    )
    if not services:
        return started  # the common case on every refresh: nothing deployed yet
    running: dict[str, list[Any]] = {}
    for container in host.containers.filter(labels__has_key="berth.service"):
        running.setdefault(container.labels["berth.service"], []).append(container)
    for service in services:
        if host.pk not in {target.pk for target in target_hosts(service)}:
            continue
        revision = service.current_revision
        assert revision is not None
        containers = running.get(service.name, [])
        healthy = [
            c
            for c in containers
            if c.state == "running" and c.labels.get("berth.revision") == str(revision.number)
        ]
        if len(healthy) == 1 and len(containers) == 1:
            continue
        recent = Rollout.objects.filter(
            service=service,
            kind=RolloutKind.CONVERGE,
            hosts__host=host,
            created_at__gte=timezone.now() - timedelta(seconds=settings.BERTH_CONVERGE_COOLDOWN),
        ).exclude(status__in=[RolloutStatus.SUCCEEDED])
        if recent.exists():
            continue  # it just tried and failed: do not hammer the host
        log.info(
            "%s on %s has %d container(s), none healthy on revision %d: converging",
            service.name, host.name, len(containers), revision.number,
        )  # fmt: skip
        try:
            started.append(
                deploy(service, revision, actor=None, kind=RolloutKind.CONVERGE, hosts=[host])
            )
        except (RolloutConflict, ValueError) as exc:
            log.info("not converging %s on %s now: %s", service.name, host.name, exc)
    return started


def on_host_refreshed(sender: Any, host: Host, **kwargs: Any) -> None:
    if host.status == HostStatus.ONLINE:
        converge_host(host)
