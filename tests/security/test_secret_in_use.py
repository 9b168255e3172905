"""A stored secret that a spec still names cannot be deleted: not through the API (409
naming the services, revisions and operations that use it), not through the Django
admin. Any revision counts, not only the current one: every revision can be deployed
again. An unused secret is deleted as before, and audited."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from containers.models import Secret
from containers.secrets import SecretInUse, create_secret, delete_secret
from deployments import services as deployment_services
from deployments.models import Service
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation

IMAGE = "198.18.0.1:5000/demo/web:v1"

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _service_using(name: str, secret: str) -> Service:
    """A service whose revision 1 names ``secret`` and revision 2 (current) does not."""
    service = Service.objects.create(name=name)
    deployment_services.create_revision(
        service, spec={"image": IMAGE, "env_secrets": {"DB_PASSWORD": secret}}
    )
    service.current_revision = deployment_services.create_revision(service, spec={"image": IMAGE})
    service.save(update_fields=["current_revision"])
    return service


def _deletions() -> int:
    return Operation.objects.filter(action="secret.delete").count()


def test_a_secret_an_old_revision_names_cannot_be_deleted_through_the_api(admin_client):
    secret = create_secret(name="db-password", value="v")
    _service_using("api", "db-password")
    current = Service.objects.create(name="worker")
    current.current_revision = deployment_services.create_revision(
        current, spec={"image": IMAGE, "env_secrets": {"PG_PASSWORD": "db-password"}}
    )
    current.save(update_fields=["current_revision"])
    response = admin_client.delete(reverse("secret-detail", args=[secret.pk]))
    assert response.status_code == 409, response.content
    message = response.json()["message"]
    assert "service api revision 1 (DB_PASSWORD)" in message, message
    assert "service worker revision 1 (current; PG_PASSWORD)" in message, message
    assert "revision 2" not in message
    assert Secret.objects.filter(pk=secret.pk).exists()
    assert _deletions() == 0


def test_a_secret_a_pending_run_names_cannot_be_deleted_until_it_ends(admin_client):
    secret = create_secret(name="db-password", value="v")
    host = Host.objects.create(name="web-host", transport="local")
    run = _post(
        admin_client,
        reverse("host-containers", args=[host.pk]),
        {"image": IMAGE, "env_secrets": {"DB_PASSWORD": "db-password"}},
    )
    assert run.status_code == 202, run.content
    operation = Operation.objects.get(action="container.run")
    response = admin_client.delete(reverse("secret-detail", args=[secret.pk]))
    assert response.status_code == 409, response.content
    assert f"operation #{operation.pk} container.run on web-host" in response.json()["message"]
    Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.RUNNING)
    assert admin_client.delete(reverse("secret-detail", args=[secret.pk])).status_code == 409
    Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.SUCCEEDED)
    assert admin_client.delete(reverse("secret-detail", args=[secret.pk])).status_code == 204
    assert not Secret.objects.exists()
    assert _deletions() == 1


def test_an_unused_secret_is_deleted_and_audited(admin_client):
    used = create_secret(name="db-password", value="v")
    spare = create_secret(name="spare", value="v")
    _service_using("api", "db-password")
    assert admin_client.delete(reverse("secret-detail", args=[spare.pk])).status_code == 204
    assert list(Secret.objects.values_list("pk", flat=True)) == [used.pk]
    deletion = Operation.objects.get(action="secret.delete")
    assert deletion.params == {"name": "spare"}


def test_the_service_refuses_too():
    secret = create_secret(name="db-password", value="v")
    _service_using("api", "db-password")
    with pytest.raises(SecretInUse, match="service api revision 1"):
        delete_secret(secret)
    assert Secret.objects.filter(pk=secret.pk).exists()


def test_the_admin_refuses_to_delete_a_secret_in_use_saying_why(admin_client):
    used = create_secret(name="db-password", value="v")
    spare = create_secret(name="spare", value="v")
    _service_using("api", "db-password")
    delete = reverse("admin:containers_secret_delete", args=[used.pk])
    page = admin_client.get(delete)
    assert page.status_code == 200
    assert b"service api revision 1 (DB_PASSWORD)" in page.content
    refused = admin_client.post(delete, {"post": "yes"})
    assert refused.status_code == 200
    assert b"service api revision 1 (DB_PASSWORD)" in refused.content
    assert Secret.objects.filter(pk=used.pk).exists()
    # The changelist's bulk delete: refused while one of them is in use.
    changelist = reverse("admin:containers_secret_changelist")
    bulk = {"action": "delete_selected", "_selected_action": [used.pk, spare.pk], "post": "yes"}
    refused = admin_client.post(changelist, bulk)
    assert refused.status_code == 200
    assert b"service api revision 1 (DB_PASSWORD)" in refused.content
    assert Secret.objects.count() == 2
    assert _deletions() == 0
    # An unused one goes, audited.
    assert (
        admin_client.post(
            reverse("admin:containers_secret_delete", args=[spare.pk]), {"post": "yes"}
        ).status_code
        == 302
    )
    assert list(Secret.objects.values_list("pk", flat=True)) == [used.pk]
    assert _deletions() == 1
