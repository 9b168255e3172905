"""Retiring a service on the fleet: its containers leave every host, the service goes,
and nothing brings it back; a host that cannot be reached fails the retirement by name
and leaves the service retiring (deployed nowhere new), and retiring it again once the
host is back finishes the job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse

from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import Service
from hosts import services as host_services
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import run_testbed, wait_for
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    on_host,
    revision,
    service_on_the_fleet,
    slow_sleeper,
    switched,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(register, fleet) -> Iterator[Service]:
    yield from service_on_the_fleet(register, fleet)


def _deployed(service: Service, fleet) -> None:
    rev = revision(service, fleet, "v1")
    rollout = finished(services.request_deploy(service, rev, actor=None))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    for name in NAMES:
        assert_runs_only(fleet, name, service, rev)


def _retire(admin_client, service: Service) -> Operation:
    response = admin_client.delete(reverse("service-detail", args=[service.pk]))
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    return wait_for(
        lambda: (
            Operation.objects.filter(pk=operation.pk)
            .exclude(status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
            .first()
        ),
        timeout=120,
        what=f"retirement #{operation.pk} to finish",
    )


def test_a_retired_service_leaves_every_host_and_stays_gone(admin_client, service, fleet):
    _deployed(service, fleet)
    name = service.name

    operation = _retire(admin_client, service)
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    assert set(operation.result["hosts"]) == set(NAMES)
    for host in NAMES:
        assert on_host(fleet, host, name) == [], host
    assert not Service.objects.filter(pk=service.pk).exists()
    assert admin_client.get(reverse("service-detail", args=[service.pk])).status_code == 404

    # A refresh of every host afterwards converges nothing back.
    for host in Host.objects.filter(name__in=NAMES):
        refresh = host_services.request_refresh(host, actor=None)
        wait_for(
            lambda pk=refresh.pk: Operation.objects.filter(
                pk=pk, status=OperationStatus.SUCCEEDED
            ).exists(),
            what=f"refresh of {host.name}",
        )
    assert not Operation.objects.filter(action="service.converge", target_id=str(service.pk))
    for host in NAMES:
        assert on_host(fleet, host, name) == [], host


def test_an_unreachable_host_fails_the_retirement_and_a_retry_finishes_it(
    admin_client, service, fleet
):
    _deployed(service, fleet)
    name = service.name
    run_testbed("link", "down", "h3")
    try:
        operation = _retire(admin_client, service)
        assert operation.status == OperationStatus.FAILED
        assert "h3" in operation.error and "retire it again" in operation.error
        assert on_host(fleet, "h1", name) == [] and on_host(fleet, "h2", name) == []
        service.refresh_from_db()
        assert service.retiring
    finally:
        run_testbed("link", "up", "h3")
    assert len(on_host(fleet, "h3", name)) == 1  # untouched while it was cut off

    operation = _retire(admin_client, service)
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    for host in NAMES:
        assert on_host(fleet, host, name) == [], host
    assert not Service.objects.filter(pk=service.pk).exists()


def test_a_host_taken_out_of_the_targets_loses_the_service(admin_client, service, fleet):
    _deployed(service, fleet)
    keep = list(Host.objects.filter(name__in=["h1", "h2"]).values_list("pk", flat=True))
    response = admin_client.patch(
        reverse("service-detail", args=[service.pk]),
        {"hosts": keep},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["removal"]["hosts"] == ["h3"]
    operation = wait_for(
        lambda: Operation.objects.filter(
            pk=response.json()["removal"]["operation"],
            status__in=[OperationStatus.SUCCEEDED, OperationStatus.FAILED],
        ).first(),
        what="the removal from h3",
    )
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    assert on_host(fleet, "h3", service.name) == []
    for name in ("h1", "h2"):
        assert len(on_host(fleet, name, service.name)) == 1, name


def test_a_host_taken_out_during_a_rollout_is_cleared_once_the_rollout_ends(
    admin_client, service, fleet
):
    """The rollout still deploys to its own list of hosts, h3 included; the removal
    waits for it, so h3 ends with nothing of the service."""
    rollout = services.request_deploy(
        service, slow_sleeper(service, fleet), actor=None, batch_size=1
    )
    switched(rollout, "h1")
    keep = list(Host.objects.filter(name__in=["h1", "h2"]).values_list("pk", flat=True))
    response = admin_client.patch(
        reverse("service-detail", args=[service.pk]),
        {"hosts": keep},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    removal = response.json()["removal"]
    assert removal["hosts"] == ["h3"]
    finished(rollout)
    operation = wait_for(
        lambda: Operation.objects.filter(
            pk=removal["operation"],
            status__in=[OperationStatus.SUCCEEDED, OperationStatus.FAILED],
        ).first(),
        timeout=60,
        what="the removal from h3",
    )
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    assert on_host(fleet, "h3", service.name) == []
    for name in ("h1", "h2"):
        assert len(on_host(fleet, name, service.name)) == 1, name
