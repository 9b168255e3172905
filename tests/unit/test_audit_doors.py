"""Whichever door a change comes through (the Django admin, the dashboard pages, a
management command), it is recorded in the operation log like the API's, and no
secret lands in the record."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from accounts.models import ApiToken
from deployments.models import Service
from hosts.models import Host, HostGroup, JumpHost, SSHKey
from images.models import RegistryCredential
from images.services import create_registry_credential
from operations.models import Operation
from operations.services import start_operation

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-passphrase-Vx81"


@pytest.fixture
def private_key(tmp_path):
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


def _recorded(action: str) -> Operation:
    operations = list(Operation.objects.filter(action=action))
    assert len(operations) == 1, f"{action}: {[op.action for op in Operation.objects.all()]}"
    return operations[0]


def _trail() -> str:
    return json.dumps(
        [[op.params, op.result, op.error, op.target_name] for op in Operation.objects.all()]
    )


# --- the Django admin --------------------------------------------------------------------


def test_admin_host_add_change_and_delete_are_recorded(admin_client, admin_user):
    form = {
        "name": "adm-1",
        "transport": "local",
        "address": "",
        "port": "22",
        "username": "root",
        "host_key": "",
        "docker_host": "",
        "labels": '{"tier": "web"}',
    }
    response = admin_client.post(reverse("admin:hosts_host_add"), form)
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    host = Host.objects.get(name="adm-1")
    created = _recorded("host.create")
    assert (created.actor, created.target_id) == (admin_user, str(host.pk))
    assert created.params["labels"] == {"tier": "web"}

    change = {**form, "username": "deploy"}
    response = admin_client.post(reverse("admin:hosts_host_change", args=[host.pk]), change)
    assert response.status_code == 302
    assert _recorded("host.update").params == {"username": "deploy"}

    response = admin_client.post(
        reverse("admin:hosts_host_delete", args=[host.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Host.objects.exists()
    assert _recorded("host.remove").target_name == "adm-1"


def test_admin_bulk_delete_of_hosts_is_recorded_per_host(admin_client):
    hosts = [Host.objects.create(name=f"bulk-{n}", transport="local") for n in (1, 2)]
    response = admin_client.post(
        reverse("admin:hosts_host_changelist"),
        {"action": "delete_selected", "_selected_action": [h.pk for h in hosts], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Host.objects.exists()
    removed = Operation.objects.filter(action="host.remove")
    assert sorted(op.target_name for op in removed) == ["bulk-1", "bulk-2"]


def test_admin_registry_credential_changes_are_recorded_without_the_password(admin_client):
    form = {"name": "ghcr", "registry": "ghcr.io", "username": "bot", "password": PASSWORD}
    assert (
        admin_client.post(reverse("admin:images_registrycredential_add"), form).status_code == 302
    )
    credential = RegistryCredential.objects.get(name="ghcr")
    assert _recorded("registrycredential.create").params["registry"] == "ghcr.io"

    change = {"name": "ghcr", "registry": "ghcr.io", "username": "bot-2", "new_password": PASSWORD}
    url = reverse("admin:images_registrycredential_change", args=[credential.pk])
    assert admin_client.post(url, change).status_code == 302
    updated = _recorded("registrycredential.update")
    assert updated.params["username"] == "bot-2"
    assert updated.params["password_changed"] is True

    url = reverse("admin:images_registrycredential_delete", args=[credential.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert _recorded("registrycredential.delete").target_name.startswith("ghcr ")
    assert PASSWORD not in _trail()


def test_admin_user_add_change_password_and_delete_are_recorded(admin_client, admin_user):
    form = {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD,
            "usable_password": "true"}  # fmt: skip
    response = admin_client.post(reverse("admin:auth_user_add"), form)
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    user = User.objects.get(username="newbie")
    created = _recorded("user.create")
    assert (created.actor, created.params["username"]) == (admin_user, "newbie")
    assert created.params["password_changed"] is True

    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = admin_client.post(url, {"password1": PASSWORD + "!", "password2": PASSWORD + "!"})
    assert response.status_code == 302
    assert _recorded("user.update").params == {"password_changed": True}

    url = reverse("admin:auth_user_delete", args=[user.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(username="newbie").exists()
    assert _recorded("user.delete").target_name == "newbie"
    assert PASSWORD not in _trail()


def test_admin_ssh_key_and_jump_host_changes_are_recorded(admin_client, private_key):
    form = {"name": "deploy", "private_key": private_key, "passphrase": ""}
    assert admin_client.post(reverse("admin:hosts_sshkey_add"), form).status_code == 302
    key = SSHKey.objects.get(name="deploy")
    assert _recorded("sshkey.create").params["fingerprint"] == key.fingerprint
    url = reverse("admin:hosts_sshkey_change", args=[key.pk])
    assert admin_client.post(url, {"name": "deploy-2"}).status_code == 302
    assert _recorded("sshkey.update").params == {"name": "deploy-2"}

    form = {"name": "bastion", "address": "198.18.99.30", "port": "22", "username": "jump",
            "ssh_key": key.pk, "host_key": ""}  # fmt: skip
    assert admin_client.post(reverse("admin:hosts_jumphost_add"), form).status_code == 302
    jump_host = JumpHost.objects.get(name="bastion")
    assert _recorded("jump_host.create").params["ssh_key"] == "deploy-2"
    url = reverse("admin:hosts_jumphost_change", args=[jump_host.pk])
    assert admin_client.post(url, {**form, "port": "2222"}).status_code == 302
    assert _recorded("jump_host.update").params == {"port": 2222}
    url = reverse("admin:hosts_jumphost_delete", args=[jump_host.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert _recorded("jump_host.delete").target_name == "bastion"

    url = reverse("admin:hosts_sshkey_delete", args=[key.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not SSHKey.objects.exists()
    assert _recorded("sshkey.delete").target_name == "deploy-2"
    assert private_key.split("\n")[1] not in _trail()


# --- the dashboard pages -------------------------------------------------------------------


def test_page_host_add_and_remove_are_recorded(admin_client, admin_user, private_key):
    form = {"name": "page-1", "address": "198.18.99.9", "port": "22", "username": "root",
            "private_key": private_key, "labels": ""}  # fmt: skip
    assert admin_client.post(reverse("frontend:host-add"), form).status_code == 302
    host = Host.objects.get(name="page-1")
    created = _recorded("host.create")
    assert created.actor == admin_user
    assert created.params["ssh_key"] == "page-1 key"
    assert admin_client.post(reverse("frontend:host-remove", args=[host.pk])).status_code == 302
    assert _recorded("host.remove").result["ssh_key_removed"] == "page-1 key"
    body = private_key.split("\n")[1]
    assert body not in _trail()


def test_page_service_and_revision_are_recorded(admin_client, admin_user):
    host = Host.objects.create(name="svc-host", transport="local")
    spec = {"restart_policy": "unless-stopped", "health_mode": "docker"}
    form = {"name": "shop", "hosts": [host.pk], "image": "demo/web:v1", "env": "GREETING=hello-Pz",
            "note": "first", **spec}  # fmt: skip
    response = admin_client.post(reverse("frontend:service-create"), form)
    assert response.status_code == 302, response.context and response.context["form"].errors
    service = Service.objects.get(name="shop")
    created = _recorded("service.create")
    assert (created.actor, created.params["hosts"]) == (admin_user, ["svc-host"])
    assert _recorded("revision.create").params["number"] == 1

    form = {"image": "demo/web:v2", "note": "second", **spec}
    url = reverse("frontend:revision-create", args=[service.pk])
    assert admin_client.post(url, form).status_code == 302
    assert Operation.objects.filter(action="revision.create").count() == 2
    assert "hello-Pz" not in _trail()  # the audit records no spec: a revision keeps it


def test_page_cancel_is_recorded(admin_client, admin_user):
    host = Host.objects.create(name="h", transport="local")
    pending = start_operation(action="host.refresh", target=host, actor=admin_user, host=host)
    response = admin_client.post(reverse("frontend:operation-cancel", args=[pending.pk]))
    assert response.status_code == 302
    cancel = _recorded("operation.cancel")
    assert cancel.target_id == str(pending.pk)
    assert cancel.result["status"] == "cancelled"


# --- management commands ----------------------------------------------------------------


def test_create_api_token_command_is_recorded_without_the_secret(admin_user):
    out = io.StringIO()
    call_command("create_api_token", admin_user.username, "--name", "laptop", stdout=out,
                 stderr=io.StringIO())  # fmt: skip
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(name="laptop")
    created = _recorded("token.create")
    assert (created.actor, created.actor_name) == (None, "system")
    assert created.params["prefix"] == f"berth_{token.key}_"
    assert secret not in _trail()
    # berth_<key>_<secret>: the secret may hold "_" itself, so split from the left.
    assert secret.split("_", 2)[2] not in _trail()


def test_ensure_admin_command_is_recorded_without_the_password():
    out = io.StringIO()
    call_command("ensure_admin", "--username", "boss", stdout=out)
    password = out.getvalue().split("Password: ")[1].split()[0]
    assert User.objects.get(username="boss").is_superuser
    created = _recorded("user.create")
    assert created.params["username"] == "boss"
    assert created.params["is_superuser"] is True
    assert password not in _trail()


def test_import_inventory_command_records_each_host(tmp_path, private_key):
    key = tmp_path / "key"
    key.write_text(private_key)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"hosts": [
        {"name": "inv-1", "address": "198.18.99.21", "private_key": str(key)},
        {"name": "inv-2", "address": "198.18.99.22", "private_key": str(key)},
    ]}))  # fmt: skip
    call_command("import_inventory", str(inventory), stdout=io.StringIO())
    created = Operation.objects.filter(action="host.create")
    assert sorted(op.target_name for op in created) == ["inv-1", "inv-2"]
    assert {op.actor_name for op in created} == {"system"}


def test_host_group_changes_through_the_service_are_recorded(admin_user):
    from hosts import services

    group = services.create_host_group(name="edge", actor=admin_user)
    services.update_host_group(group, actor=admin_user, description="the edge")
    services.delete_host_group(group, actor=admin_user)
    assert not HostGroup.objects.exists()
    actions = list(Operation.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["hostgroup.create", "hostgroup.update", "hostgroup.delete"]


def test_registry_credential_service_never_records_the_password(admin_user):
    create_registry_credential(
        name="quay", registry="quay.io", username="bot", password=PASSWORD, actor=admin_user
    )
    assert PASSWORD not in _trail()
