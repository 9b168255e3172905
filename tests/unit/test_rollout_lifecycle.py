"""A rollout and its operation end together, and convergence never fights a deploy.

These pin the decisions the controller makes from stored state; tests/integration and
tests/faults prove the same against the real fleet and a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from containers.models import Container
from deployments import services
from deployments.choices import HostStep, RolloutKind, RolloutStatus
from deployments.models import Revision, Rollout, Service
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation
from operations.services import reap_stuck_operations, request_cancel

pytestmark = pytest.mark.django_db

REF = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def host():
    return Host.objects.create(name="h1", transport="local")


@pytest.fixture
def service(host):
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    return svc


def _revision(service: Service) -> Revision:
    return services.create_revision(service, spec={"image": REF})


def _finished(rollout: Rollout, *, ago: float = 0.0, status: str = RolloutStatus.SUCCEEDED) -> None:
    """Mark a rollout ended ``ago`` seconds ago, its service on its revision, as the
    runner would have."""
    Rollout.objects.filter(pk=rollout.pk).update(
        status=status, finished_at=timezone.now() - timedelta(seconds=ago)
    )
    Operation.objects.filter(pk=rollout.operation_id).update(status=OperationStatus.SUCCEEDED)
    Service.objects.filter(pk=rollout.service_id).update(current_revision=rollout.revision)


def _runs(host: Host, service: Service, revision: int, *, state: str = "running") -> Container:
    return Container.objects.create(
        host=host,
        container_id=f"c{revision}{state}",
        name=f"{service.name}-r{revision}-x",
        image=REF,
        state=state,
        labels={"berth.service": service.name, "berth.revision": str(revision)},
    )


# --- convergence --------------------------------------------------------------------------


def test_convergence_waits_out_the_settle_window_after_a_rollout(settings, host, service):
    settings.BERTH_CONVERGE_SETTLE = 30
    r1, r2 = _revision(service), _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=120)
    _finished(services.request_deploy(service, r2, actor=None), ago=1)
    # The refresh that triggers this read the host before the r2 rollout switched it.
    _runs(host, service, 1)

    assert services.converge_host(host) == []
    assert not Rollout.objects.filter(kind=RolloutKind.CONVERGE).exists()


def test_convergence_brings_a_host_to_the_current_revision_after_the_window(
    settings, host, service
):
    settings.BERTH_CONVERGE_SETTLE = 30
    r1, r2 = _revision(service), _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=300)
    _finished(services.request_deploy(service, r2, actor=None), ago=60)
    _runs(host, service, 1)

    (converge,) = services.converge_host(host)

    assert converge.revision == r2
    assert converge.operation.action == "service.converge"
    assert converge.operation.params["found"] == "h1 ran r1"
    assert Service.objects.get(pk=service.pk).current_revision == r2


def test_a_convergence_decided_on_a_revision_that_changed_since_is_refused(settings, host, service):
    settings.BERTH_CONVERGE_SETTLE = 0
    r1, r2 = _revision(service), _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=300)
    _finished(services.request_deploy(service, r2, actor=None), ago=60)

    # Convergence read r1 as current before the r2 rollout ended: under the lock it
    # must see r2 and give up rather than put r1 back.
    with pytest.raises(services.ConvergeNotWanted, match="now on revision 2"):
        services.request_deploy(service, r1, actor=None, kind=RolloutKind.CONVERGE, hosts=[host])
    assert not Rollout.objects.filter(kind=RolloutKind.CONVERGE).exists()


def test_no_convergence_while_a_rollout_of_the_service_is_active(settings, host, service):
    settings.BERTH_CONVERGE_SETTLE = 0
    r1, r2 = _revision(service), _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=300)
    services.request_deploy(service, r2, actor=None)  # pending: a worker has not taken it yet
    _runs(host, service, 1)

    assert services.converge_host(host) == []


@pytest.mark.parametrize("state", ["exited", "restarting", "created", "paused"])
def test_a_container_of_the_current_revision_in_any_state_is_not_replaced(
    settings, host, service, state
):
    settings.BERTH_CONVERGE_SETTLE = 0
    r1 = _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=300)
    # An operator's stop or Berth's own restart: not drift for convergence to undo.
    _runs(host, service, 1, state=state)

    assert services.converge_host(host) == []


def test_a_convergence_never_changes_the_current_revision(settings, host, service):
    settings.BERTH_CONVERGE_SETTLE = 0
    r1 = _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=300)
    (converge,) = services.converge_host(host)  # nothing of the service runs on h1
    r2 = _revision(service)
    Service.objects.filter(pk=service.pk).update(current_revision=r2)
    converge.status = RolloutStatus.RUNNING
    converge.save(update_fields=["status"])

    services.RolloutRunner(converge, context=None)._complete([], failures=0)  # type: ignore[arg-type]

    assert Service.objects.get(pk=service.pk).current_revision == r2


# --- one owner: the operation ends, so does the rollout ----------------------------------


def test_cancelling_a_rollout_before_a_worker_takes_it_cancels_the_rollout(
    admin_client, admin_user, service
):
    r1 = _revision(service)
    rollout = services.request_deploy(service, r1, actor=admin_user)

    request_cancel(rollout.operation, actor=admin_user)

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.CANCELLED
    assert rollout.finished_at is not None
    assert set(rollout.hosts.values_list("step", flat=True)) == {HostStep.SKIPPED}
    # ... and the service can be deployed again at once.
    response = admin_client.post(
        reverse("service-deploy", args=[service.pk]), {}, content_type="application/json"
    )
    assert response.status_code == 202, response.content


def test_a_reaped_rollout_operation_fails_its_rollout(settings, service):
    settings.BERTH_PENDING_TIMEOUT = 10
    rollout = services.request_deploy(service, _revision(service), actor=None)
    Operation.objects.filter(pk=rollout.operation_id).update(
        created_at=timezone.now() - timedelta(seconds=60)
    )

    assert reap_stuck_operations() == 1

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.FAILED
    assert "no worker picked it up" in rollout.reason


def test_a_rollout_left_open_by_an_ended_operation_does_not_lock_the_service(service):
    r1 = _revision(service)
    stuck = services.request_deploy(service, r1, actor=None)
    # As before rollouts followed their operations: the operation ended, the rollout
    # stayed pending.
    Operation.objects.filter(pk=stuck.operation_id).update(
        status=OperationStatus.FAILED, error="worker lost", finished_at=timezone.now()
    )

    again = services.request_deploy(service, r1, actor=None)

    stuck.refresh_from_db()
    assert stuck.status == RolloutStatus.FAILED
    assert "worker lost" in stuck.reason
    assert again.status == RolloutStatus.PENDING


def test_a_pending_convergence_gives_way_to_an_operators_deploy(settings, host, service):
    settings.BERTH_CONVERGE_SETTLE = 0
    r1 = _revision(service)
    _finished(services.request_deploy(service, r1, actor=None), ago=300)
    (converge,) = services.converge_host(host)

    deploy = services.request_deploy(service, r1, actor=None)

    converge.refresh_from_db()
    assert converge.status == RolloutStatus.CANCELLED
    assert converge.operation.status == OperationStatus.CANCELLED
    assert deploy.status == RolloutStatus.PENDING


def test_a_running_rollout_still_conflicts(service):
    r1 = _revision(service)
    running = services.request_deploy(service, r1, actor=None)
    Operation.objects.filter(pk=running.operation_id).update(status=OperationStatus.RUNNING)

    with pytest.raises(services.RolloutConflict, match="still in progress"):
        services.request_deploy(service, r1, actor=None)


def test_rollout_operations_are_named_for_what_they_do(admin_user, service):
    r1 = _revision(service)
    first = services.request_deploy(service, r1, actor=admin_user)
    _finished(first)
    Revision.objects.filter(pk=r1.pk).update(digest="198.18.0.1:5000/demo/web@sha256:" + "a" * 64)
    r1.refresh_from_db()
    back = services.request_rollback(service, r1, actor=admin_user)

    assert first.operation.action == "service.deploy"
    assert back.operation.action == "service.rollback"
