"""Retiring a service (DELETE /api/v1/services/ID/) is one queued, audited operation;
from the moment it is asked for, nothing deploys or converges the service, and it is
refused while a rollout of the service runs. (What the operation does on the hosts is
tested on the fleet: tests/integration/test_service_retire.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.roles import Role
from containers.models import Container
from deployments import services
from deployments.models import Service
from hosts.choices import HostStatus
from hosts.models import Host
from operations.models import Operation
from tests.unit.roles_support import bearer, make_user, token_for

pytestmark = pytest.mark.django_db

REF = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def service() -> Service:
    host = Host.objects.create(name="h1", transport="local", status=HostStatus.ONLINE)
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    return svc


def _retire(client, service: Service):
    return client.delete(reverse("service-detail", args=[service.pk]))


def test_deleting_a_service_queues_its_retirement_from_every_host_it_runs_on(admin_client, service):
    elsewhere = Host.objects.create(name="h9", transport="local")  # left its targets, still runs it
    Container.objects.create(
        host=elsewhere, container_id="c" * 64, name="web-r1-abc", image=REF,
        labels={"berth.service": "web", "berth.revision": "1"}, state="running",
    )  # fmt: skip
    response = _retire(admin_client, service)
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.action == "service.retire"
    assert operation.target_name == "web"
    assert operation.params == {"service": service.pk, "hosts": ["h1", "h9"]}
    service.refresh_from_db()
    assert service.retiring  # it goes once every host has lost its containers
    assert admin_client.get(reverse("service-detail", args=[service.pk])).json()["retiring"]


def test_a_retiring_service_is_neither_deployed_nor_converged(admin_client, service):
    revision = services.create_revision(service, spec={"image": REF})
    Service.objects.filter(pk=service.pk).update(current_revision=revision)
    assert _retire(admin_client, service).status_code == 202
    response = admin_client.post(
        reverse("service-deploy", args=[service.pk]), {}, content_type="application/json"
    )
    assert response.status_code == 409
    assert "retired" in response.json()["message"]
    # h1 runs nothing of it: a service not being retired would converge there.
    assert services.converge_host(Host.objects.get(name="h1")) == []


def test_convergence_still_acts_on_a_service_not_being_retired(service):
    revision = services.create_revision(service, spec={"image": REF})
    Service.objects.filter(pk=service.pk).update(current_revision=revision)
    assert len(services.converge_host(Host.objects.get(name="h1"))) == 1


def test_retiring_while_a_rollout_runs_or_twice_is_a_409(admin_client, service):
    revision = services.create_revision(service, spec={"image": REF})
    services.request_deploy(service, revision, actor=None)
    response = _retire(admin_client, service)
    assert response.status_code == 409
    assert "still in progress" in response.json()["message"]
    service.refresh_from_db()
    assert not service.retiring
    assert not Operation.objects.filter(action="service.retire").exists()


def test_retiring_twice_is_a_409_naming_the_first(admin_client, service):
    first = _retire(admin_client, service)
    second = _retire(admin_client, service)
    assert second.status_code == 409
    assert f"#{first.json()['operation']}" in second.json()["message"]
    assert Operation.objects.filter(action="service.retire").count() == 1


def test_a_viewer_cannot_retire_a_service(service):
    viewer = make_user("vera", Role.VIEWER)
    response = _retire(bearer(token_for(viewer, Role.VIEWER)), service)
    assert response.status_code == 403
    service.refresh_from_db()
    assert not service.retiring


def test_an_operator_retires_a_service_on_its_page(operator_client, service):
    page = operator_client.get(reverse("frontend:service", args=[service.pk]))
    assert 'data-action="retire"' in page.text
    assert "removed from h1" in page.text  # the confirmation names the hosts
    response = operator_client.post(
        reverse("frontend:service-retire", args=[service.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'data-testid="op-feedback"' in response.text
    assert "Retiring web" in response.text
    service.refresh_from_db()
    assert service.retiring
    assert (
        "is being retired"
        in operator_client.get(reverse("frontend:service", args=[service.pk])).text
    )


def test_a_viewer_sees_no_retire_button_and_cannot_post_one(viewer_client, service):
    page = viewer_client.get(reverse("frontend:service", args=[service.pk]))
    assert 'data-action="retire"' not in page.text
    response = viewer_client.post(reverse("frontend:service-retire", args=[service.pk]))
    assert response.status_code == 403
    service.refresh_from_db()
    assert not service.retiring
