"""A host removed from the fleet can be added again under the same name, through the API
and the pages: nothing it left behind (its SSH key) stands in the way."""

import subprocess

import pytest
from django.urls import reverse

from hosts.models import Host, SSHKey
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db


def _keygen(path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


@pytest.fixture
def private_key(tmp_path):
    return _keygen(tmp_path / "id_ed25519")


def _create(client, **fields):
    body = {"name": "web-1", "address": "198.18.99.2", "host_key": EXAMPLE_HOST_KEY, **fields}
    return client.post(reverse("host-list"), body, content_type="application/json")


def test_remove_and_add_again_with_the_same_name_through_the_api(admin_client, private_key):
    first = _create(admin_client, private_key=private_key)
    assert first.status_code == 201, first.content
    deleted = admin_client.delete(reverse("host-detail", args=[first.json()["id"]]))
    assert deleted.status_code == 204
    again = _create(admin_client, private_key=private_key)
    assert again.status_code == 201, again.content
    host = Host.objects.get(name="web-1")
    assert host.ssh_key is not None
    assert host.ssh_key.public_key.startswith("ssh-ed25519 ")


def test_the_key_made_for_a_host_goes_with_it(admin_client, private_key):
    created = _create(admin_client, private_key=private_key)
    admin_client.delete(reverse("host-detail", args=[created.json()["id"]]))
    # An unused private key left in the database is a secret kept for nothing.
    assert not SSHKey.objects.exists()


def test_a_key_other_hosts_use_stays(admin_client, private_key):
    created = _create(admin_client, private_key=private_key)
    key = Host.objects.get(pk=created.json()["id"]).ssh_key
    other = _create(admin_client, name="web-2", ssh_key=key.pk)
    assert other.status_code == 201, other.content
    admin_client.delete(reverse("host-detail", args=[created.json()["id"]]))
    assert SSHKey.objects.filter(pk=key.pk).exists()
    assert Host.objects.get(name="web-2").ssh_key == key


def test_a_key_name_already_taken_does_not_stop_a_new_host(admin_client, private_key, tmp_path):
    other_key = _keygen(tmp_path / "other")
    SSHKey.objects.create(name="web-1 key", private_key=other_key, public_key="x")
    response = _create(admin_client, private_key=private_key)
    assert response.status_code == 201, response.content
    host = Host.objects.get(name="web-1")
    assert host.ssh_key.name != "web-1 key"
    assert host.ssh_key.name.startswith("web-1 key")


def test_remove_through_the_api_is_recorded(admin_client, private_key):
    created = _create(admin_client, private_key=private_key)
    admin_client.delete(reverse("host-detail", args=[created.json()["id"]]))
    removed = Operation.objects.get(action="host.remove")
    assert removed.target_name == "web-1"
    assert removed.status == "succeeded"


def test_remove_and_add_again_through_the_pages(admin_client, private_key):
    form = {
        "name": "edge-1",
        "address": "198.18.99.7",
        "port": "22",
        "username": "root",
        "private_key": private_key,
        "labels": "",
    }
    assert admin_client.post(reverse("frontend:host-add"), form).status_code == 302
    host = Host.objects.get(name="edge-1")
    assert admin_client.post(reverse("frontend:host-remove", args=[host.pk])).status_code == 302
    response = admin_client.post(reverse("frontend:host-add"), form)
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert Host.objects.filter(name="edge-1").count() == 1
