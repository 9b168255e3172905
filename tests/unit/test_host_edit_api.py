"""A host is edited in place (PATCH /api/v1/hosts/ID/): how it is reached, its key, labels
and groups. Bad input is a 400 naming the field and changes nothing; every change is
audited; the rules that guard registering a host guard editing one too."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.roles import Role
from hosts.models import Host, HostGroup, SSHKey
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY, example_private_key
from tests.unit.roles_support import bearer, make_user, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(admin_client) -> Host:
    response = admin_client.post(
        reverse("host-list"),
        {
            "name": "web-1",
            "address": "198.18.99.2",
            "host_key": EXAMPLE_HOST_KEY,
            "private_key": example_private_key(),
            "labels": {"env": "prod"},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return Host.objects.get(name="web-1")


def _patch(client, host: Host, **fields):
    return client.patch(
        reverse("host-detail", args=[host.pk]), fields, content_type="application/json"
    )


def test_an_admin_changes_how_a_host_is_reached_and_its_labels(admin_client, host):
    response = _patch(
        admin_client, host, address="198.18.99.3", port=2222, username="deploy",
        labels={"env": "staging", "tier": "web"},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["address"], body["port"], body["username"]) == ("198.18.99.3", 2222, "deploy")
    assert body["labels"] == {"env": "staging", "tier": "web"}
    host.refresh_from_db()
    assert (host.address, host.port, host.username) == ("198.18.99.3", 2222, "deploy")
    # The pinned key stays: the next connection checks the machine at the new address
    # against it, and a different machine is a host_key_mismatch to approve.
    assert host.host_key == EXAMPLE_HOST_KEY
    audit = Operation.objects.filter(action="host.update", host=host).get()
    assert audit.params == {
        "address": "198.18.99.3",
        "port": 2222,
        "username": "deploy",
        "labels": {"env": "staging", "tier": "web"},
    }


def test_a_new_private_key_replaces_the_hosts_own_key_and_is_never_shown(admin_client, host):
    old_key = host.ssh_key
    assert old_key is not None
    new_key_text = example_private_key()
    response = _patch(admin_client, host, private_key=new_key_text)
    assert response.status_code == 200, response.content
    assert new_key_text not in response.content.decode()
    host.refresh_from_db()
    assert host.ssh_key_id != old_key.pk
    assert host.ssh_key.private_key == new_key_text
    # The key that came with the host and that nothing else uses goes with it.
    assert not SSHKey.objects.filter(pk=old_key.pk).exists()
    audit = Operation.objects.filter(action="host.update", host=host).get()
    assert new_key_text not in str(audit.params)


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", 99999), ("port", 0), ("name", "web 1"), ("name", "\N{ROCKET}"),
     ("labels", {"env": 1}), ("address", ""), ("private_key", "not a key"),
     ("host_key", "ssh-ed25519 not-base64!")],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(admin_client, host, field, value):
    before = Host.objects.filter(pk=host.pk).values().get()
    response = _patch(admin_client, host, **{field: value})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert Host.objects.filter(pk=host.pk).values().get() == before
    assert not Operation.objects.filter(action="host.update").exists()


def test_a_name_another_host_has_is_a_400(admin_client, host):
    Host.objects.create(name="web-2", transport="local")
    response = _patch(admin_client, host, name="web-2")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    host.refresh_from_db()
    assert host.name == "web-1"


def test_an_operator_cannot_edit_a_host(host):
    operator = make_user("olivia", Role.OPERATOR)
    client = bearer(token_for(operator, Role.OPERATOR))
    response = _patch(client, host, port=2222)
    assert response.status_code == 403
    host.refresh_from_db()
    assert host.port == 22


def test_a_scoped_admin_cannot_move_a_host_out_of_their_groups_or_onto_a_stored_key(host):
    mine = HostGroup.objects.create(name="mine")
    theirs = HostGroup.objects.create(name="theirs")
    host.groups.add(mine)
    stored = SSHKey.objects.create(name="fleet key", private_key=example_private_key())
    scoped = make_user("sam", Role.ADMIN, groups=[mine])
    client = bearer(token_for(scoped, Role.ADMIN, groups=[mine]))

    assert _patch(client, host, groups=["theirs"]).status_code == 403
    assert _patch(client, host, ssh_key=stored.pk).status_code == 403
    assert _patch(client, host, transport="local").status_code == 403
    host.refresh_from_db()
    assert list(host.groups.all()) == [mine]
    assert host.ssh_key_id != stored.pk
    assert host.transport == "ssh"
    # What stays inside their scope is theirs to change.
    assert _patch(client, host, groups=["mine"], port=2200).status_code == 200
    assert theirs.hosts.count() == 0
