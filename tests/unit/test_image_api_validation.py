"""Bad image requests are answered with a 400 (or 404) that says what to fix, and
nothing is recorded or queued."""

import pytest
from django.urls import reverse

from hosts.models import Host
from images.models import Image
from images.services import create_registry_credential
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def host():
    return Host.objects.create(
        name="web-1", address="198.18.99.2", host_key=EXAMPLE_HOST_KEY, labels={"role": "web"}
    )


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


@pytest.mark.parametrize("ref", ["Demo/Web:v1", "demo/web:", "", "demo/web@sha256:123"])
def test_pull_of_an_invalid_ref_is_a_400_naming_ref(admin_client, host, ref):
    response = _post(admin_client, reverse("host-image-pull", args=[host.pk]), {"ref": ref})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["ref"]
    assert not Operation.objects.exists()


def test_pull_on_an_unknown_host_is_a_404(admin_client):
    response = _post(admin_client, reverse("host-image-pull", args=[999]), {"ref": "busybox"})
    assert response.status_code == 404
    assert not Operation.objects.exists()


def test_pull_refuses_a_credential_for_another_registry(admin_client, host):
    credential = create_registry_credential(
        name="ghcr", registry="ghcr.io", username="ci", password="x"
    )
    response = _post(
        admin_client,
        reverse("host-image-pull", args=[host.pk]),
        {"ref": "198.18.0.1:5000/demo/web:v2", "credential": credential.pk},
    )
    assert response.status_code == 400
    assert "ghcr.io" in response.json()["errors"]["credential"][0]
    response = _post(
        admin_client,
        reverse("host-image-pull", args=[host.pk]),
        {"ref": "ghcr.io/o/a:1", "credential": 12345},
    )
    assert response.status_code == 400
    assert "credential" in response.json()["errors"]
    assert not Operation.objects.filter(action="image.pull").exists()


def test_pull_is_accepted_with_the_operation_url(admin_client, host):
    response = _post(
        admin_client, reverse("host-image-pull", args=[host.pk]), {"ref": "demo/web:v1"}
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["operation_url"]
    operation = Operation.objects.get(pk=body["operation"])
    assert (operation.action, operation.host, operation.status) == ("image.pull", host, "pending")
    assert operation.params == {"ref": "demo/web:v1", "credential": None, "credential_name": ""}


def test_bulk_pull_needs_hosts_or_a_label_that_matches(admin_client, host):
    url = reverse("image-pull")
    ref = "198.18.0.1:5000/demo/web:v2"
    cases = [
        ({"ref": ref}, "hosts"),
        ({"ref": ref, "hosts": [host.pk], "host_label": "role=web"}, "hosts"),
        ({"ref": ref, "hosts": []}, "hosts"),
        ({"ref": ref, "hosts": [host.pk, 999]}, "hosts"),
        ({"ref": ref, "host_label": "role web"}, "host_label"),
        ({"ref": ref, "host_label": "7=web"}, "host_label"),
        ({"ref": ref, "host_label": "role=db"}, "host_label"),
        ({"ref": "NOT A REF", "hosts": [host.pk]}, "ref"),
    ]
    for body, field in cases:
        response = _post(admin_client, url, body)
        assert response.status_code == 400, body
        assert field in response.json()["errors"], (body, response.json())
    assert not Operation.objects.exists()


def test_bulk_pull_by_label_records_a_child_per_host(admin_client, host):
    other = Host.objects.create(
        name="web-2", address="198.18.99.3", host_key=EXAMPLE_HOST_KEY, labels={"role": "web"}
    )
    Host.objects.create(
        name="db-1", address="198.18.99.4", host_key=EXAMPLE_HOST_KEY, labels={"role": "db"}
    )
    response = _post(
        admin_client, reverse("image-pull"), {"ref": "demo/web:v2", "host_label": "role=web"}
    )
    assert response.status_code == 202, response.content
    parent = Operation.objects.get(pk=response.json()["operation"])
    assert parent.action == "bulk.image.pull"
    children = parent.children.order_by("host__name")
    assert [child.host for child in children] == [host, other]
    assert {child.action for child in children} == {"image.pull"}


def test_remove_and_prune_answer_404_for_unknown_objects(admin_client):
    assert _post(admin_client, reverse("host-image-remove", args=[999]), {}).status_code == 404
    assert _post(admin_client, reverse("host-image-prune", args=[999]), {}).status_code == 404
    assert not Operation.objects.exists()


def test_remove_and_prune_check_their_flags(admin_client, host):
    image = Image.objects.create(host=host, image_id="sha256:" + "b" * 64, tags=["web:v1"])
    response = _post(admin_client, reverse("host-image-remove", args=[image.pk]), {"force": "x"})
    assert response.status_code == 400
    assert "force" in response.json()["errors"]
    response = _post(admin_client, reverse("host-image-prune", args=[host.pk]), {"all": "x"})
    assert response.status_code == 400
    assert "all" in response.json()["errors"]
    assert not Operation.objects.exists()

    response = _post(admin_client, reverse("host-image-remove", args=[image.pk]), {})
    assert response.status_code == 202
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.params == {"image": image.image_id, "tags": ["web:v1"], "force": True}
    response = _post(admin_client, reverse("host-image-prune", args=[host.pk]), {"all": True})
    assert response.status_code == 202
    assert Operation.objects.get(pk=response.json()["operation"]).params == {"all": True}
