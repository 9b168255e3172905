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


def test_hosts_can_leave_while_a_rollout_runs_and_their_removal_waits_for_it(admin_client, service):
    revision = services.create_revision(service, spec={"image": REF})
    services.request_deploy(service, revision, actor=None)
    response = _patch(admin_client, service, hosts=[])
    assert response.status_code == 200, response.content
    assert response.json()["removal"]["hosts"] == ["h1", "h2", "h3"]
    assert service.hosts.count() == 0
    # (The removal waits for that rollout to end: tests/integration/test_service_retire.py.)


def test_a_service_cannot_be_renamed(admin_client, service):
    response = _patch(admin_client, service, name="web2")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    service.refresh_from_db()
    assert service.name == "web"


def test_the_page_shows_the_hosts_that_leave_before_saving(operator_client, service):
    h1 = Host.objects.get(name="h1")
    url = reverse("frontend:service-targets", args=[service.pk])
    page = operator_client.get(url)
    assert page.status_code == 200 and 'name="hosts"' in page.text

    first = operator_client.post(url, {"hosts": [h1.pk]})
    assert first.status_code == 200
    assert "h2, h3" in first.text and 'data-testid="leaving"' in first.text
    assert service.hosts.count() == 3  # nothing saved yet
    assert not Operation.objects.filter(action__in=["service.update", "service.remove"])

    # A confirmation for other hosts than the ones shown is shown again, not saved.
    h2 = Host.objects.get(name="h2")
    again = operator_client.post(url, {"hosts": [h2.pk], "confirm": "h2,h3"})
    assert again.status_code == 200 and "h1, h3" in again.text
    assert service.hosts.count() == 3

    confirmed = operator_client.post(url, {"hosts": [h1.pk], "confirm": "h2,h3"})
    assert confirmed.status_code == 302
    assert list(service.hosts.values_list("name", flat=True)) == ["h1"]
    removal = Operation.objects.get(action="service.remove")
    assert removal.params["hosts"] == ["h2", "h3"]


def test_adding_targets_on_the_page_saves_at_once(operator_client, service):
    url = reverse("frontend:service-targets", args=[service.pk])
    hosts = list(Host.objects.values_list("pk", flat=True))
    response = operator_client.post(url, {"hosts": hosts, "host_label": "tier=web"})
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.host_label == "tier=web"
    assert not Operation.objects.filter(action="service.remove").exists()


def test_a_bad_label_on_the_page_is_a_form_error(operator_client, service):
    url = reverse("frontend:service-targets", args=[service.pk])
    response = operator_client.post(url, {"host_label": "a__b=1"})
    assert response.status_code == 200
    assert "host_label" in response.context["form"].errors
    assert service.hosts.count() == 3


@pytest.mark.parametrize("label", [",", "7=x", "a__b=1", "=x"])
def test_a_host_label_that_cannot_be_read_is_a_400(admin_client, service, label):
    response = _patch(admin_client, service, host_label=label)
    assert response.status_code == 400, response.content
    assert "host_label" in response.json()["errors"]
    service.refresh_from_db()
    assert service.host_label == ""


def test_a_stored_label_that_cannot_be_read_targets_no_host(service):
    """One kept from before labels were checked: never every host."""
    Service.objects.filter(pk=service.pk).update(host_label=",")
    service.hosts.clear()
    service.refresh_from_db()
    assert services.target_hosts(service) == []
    assert services.target_host_ids([service]) == {service.pk: set()}
