"""Changing where a service runs (PATCH its hosts, group or label) removes it from the
hosts that left: one queued service.remove naming them, shown in the answer. A service's
name cannot change (it labels its containers on every host)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deployments import services
from deployments.models import Service
from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db

REF = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def service() -> Service:
    svc = Service.objects.create(name="web")
    svc.hosts.set(
        [Host.objects.create(name=name, transport="local") for name in ("h1", "h2", "h3")]
    )
    return svc


def _patch(client, service: Service, **body):
    return client.patch(
        reverse("service-detail", args=[service.pk]), body, content_type="application/json"
    )


def test_hosts_that_leave_the_targets_lose_the_service(admin_client, service):
    h1 = Host.objects.get(name="h1")
    response = _patch(admin_client, service, hosts=[h1.pk])
    assert response.status_code == 200, response.content
    removal = response.json()["removal"]
    assert removal["hosts"] == ["h2", "h3"]
    operation = Operation.objects.get(pk=removal["operation"])
    assert operation.action == "service.remove"
    assert operation.params == {"service": service.pk, "hosts": ["h2", "h3"]}
    assert Operation.objects.filter(action="service.update").count() == 1
    # Reading the service later says nothing of it.
    assert admin_client.get(reverse("service-detail", args=[service.pk])).json()["removal"] is None


def test_a_change_that_keeps_every_host_removes_nothing(admin_client, service):
    response = _patch(admin_client, service, host_label="tier=web")  # adds, removes none
    assert response.status_code == 200, response.content
    assert response.json()["removal"] is None
    assert not Operation.objects.filter(action="service.remove").exists()


def test_hosts_cannot_leave_while_a_rollout_runs(admin_client, service):
    revision = services.create_revision(service, spec={"image": REF})
    services.deploy(service, revision, actor=None)
    response = _patch(admin_client, service, hosts=[])
    assert response.status_code == 409
    assert "still in progress" in response.json()["message"]
    assert service.hosts.count() == 3  # nothing changed
    assert not Operation.objects.filter(action__in=["service.remove", "service.update"]).exists()


def test_a_service_cannot_be_renamed(admin_client, service):
    response = _patch(admin_client, service, name="web2")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    service.refresh_from_db()
    assert service.name == "web"
