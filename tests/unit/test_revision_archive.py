"""A mistaken revision can be archived: it stays in the history and can still be rolled
back to, but "deploy the newest" (the API's default, the page's Deploy button) never
picks it. The current revision, and one a rollout is deploying, cannot be archived."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.roles import Role
from deployments import services
from deployments.models import Revision, Rollout, Service
from hosts.models import Host
from operations.models import Operation
from tests.unit.roles_support import bearer, make_user, token_for

pytestmark = pytest.mark.django_db

REF = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def service() -> Service:
    host = Host.objects.create(name="h1", transport="local")
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    first = services.create_revision(svc, spec={"image": REF})
    first.digest = "sha256:" + "a" * 64
    first.save(update_fields=["digest"])
    Service.objects.filter(pk=svc.pk).update(current_revision=first)
    services.create_revision(svc, spec={"image": REF, "env": {"BROKEN": "1"}}, note="oops")
    svc.refresh_from_db()
    return svc


def _archive(client, service: Service, number: int, archived: bool = True):
    return client.patch(
        reverse("service-revision", args=[service.pk, number]),
        {"archived": archived},
        content_type="application/json",
    )


def _deploy(client, service: Service, **body):
    return client.post(
        reverse("service-deploy", args=[service.pk]), body, content_type="application/json"
    )


def test_an_archived_revision_is_never_deployed_as_the_newest(admin_client, service):
    response = _archive(admin_client, service, 2)
    assert response.status_code == 200, response.content
    assert response.json()["archived"] is True
    history = admin_client.get(reverse("service-revisions", args=[service.pk])).json()
    assert [(r["number"], r["archived"]) for r in history["results"]] == [(2, True), (1, False)]

    # "Deploy the newest" takes r1, the newest not archived.
    deployed = _deploy(admin_client, service)
    assert deployed.status_code == 202, deployed.content
    assert deployed.json()["revision"] == 1
    audit = Operation.objects.get(action="revision.archive")
    assert audit.params == {"service": "web", "number": 2}


def test_an_archived_revision_named_in_a_deploy_is_a_400_and_unarchiving_brings_it_back(
    admin_client, service
):
    _archive(admin_client, service, 2)
    response = _deploy(admin_client, service, revision=2)
    assert response.status_code == 400
    assert "archived" in response.json()["errors"]["revision"][0]
    assert not Rollout.objects.exists()

    assert _archive(admin_client, service, 2, archived=False).json()["archived"] is False
    assert Operation.objects.filter(action="revision.unarchive").count() == 1
    assert _deploy(admin_client, service).json()["revision"] == 2


def test_an_archived_revision_can_still_be_rolled_back_to(admin_client, service):
    second = Revision.objects.get(service=service, number=2)
    second.digest = "sha256:" + "b" * 64
    second.save(update_fields=["digest"])
    Service.objects.filter(pk=service.pk).update(current_revision=second)
    assert _archive(admin_client, service, 1).status_code == 200
    response = admin_client.post(
        reverse("service-rollback", args=[service.pk]),
        {"revision": 1},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content


def test_the_current_revision_or_one_being_deployed_cannot_be_archived(admin_client, service):
    response = _archive(admin_client, service, 1)
    assert response.status_code == 409
    assert "what web runs" in response.json()["message"]
    services.request_deploy(service, Revision.objects.get(service=service, number=2), actor=None)
    response = _archive(admin_client, service, 2)
    assert response.status_code == 409
    assert "in progress" in response.json()["message"]
    assert not Revision.objects.filter(archived=True).exists()
    assert not Operation.objects.filter(action="revision.archive").exists()


def test_bad_archive_requests(admin_client, service):
    assert _archive(admin_client, service, 9).status_code == 404
    response = admin_client.patch(
        reverse("service-revision", args=[service.pk, 2]),
        {"archived": True, "note": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "note" in response.json()["errors"]
    viewer = make_user("vera", Role.VIEWER)
    assert _archive(bearer(token_for(viewer, Role.VIEWER)), service, 2).status_code == 403
    assert not Revision.objects.filter(archived=True).exists()


def test_an_operator_archives_on_the_service_page(operator_client, service):
    page = operator_client.get(reverse("frontend:service", args=[service.pk]))
    assert "Deploy revision 2" in page.text
    response = operator_client.post(
        reverse("frontend:revision-archive", args=[service.pk, 2]),
        {"archived": "true"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Revision 2 of web archived" in response.text
    page = operator_client.get(reverse("frontend:service", args=[service.pk]))
    assert 'data-testid="archived"' in page.text
    assert "Deploy revision 2" not in page.text and "Deploy revision 1" in page.text
    refused = operator_client.post(
        reverse("frontend:revision-archive", args=[service.pk, 1]),
        {"archived": "true"},
        HTTP_HX_REQUEST="true",
    )
    assert "what web runs" in refused.text


def test_the_page_names_the_revisions_a_service_has_when_asked_for_another(
    operator_client, service
):
    response = operator_client.post(
        reverse("frontend:service-deploy", args=[service.pk]),
        {"revision": "9"},
        HTTP_HX_REQUEST="true",
    )
    assert "web has no revision 9: its revisions are 1 to 2." in response.text
    assert not Rollout.objects.exists()
