"""A stored secret can be limited to host groups, like a user or a token: then no spec
may hand it to a container on a host outside them, at any door (container runs,
revisions, deploys and rollbacks, API and pages), and the worker checks again right
before the agent call. An operator limited to one team's hosts cannot read another
team's secret by running it into a container of their own."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from access.roles import Role
from containers.models import Secret
from containers.secrets import SecretOutOfScope, create_secret, resolve_env
from deployments.models import Revision, Rollout, Service
from hosts.models import Host, HostGroup
from operations.models import Operation
from tests.unit.roles_support import logged_in, make_user

IMAGE = "198.18.0.1:5000/demo/web:v1"
SPEC = {"image": IMAGE, "env_secrets": {"DB_PASSWORD": "pci-db"}}

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def fleet(db):
    pci, web = HostGroup.objects.create(name="pci"), HostGroup.objects.create(name="web")
    inside = Host.objects.create(name="pci-1", transport="local")
    inside.groups.add(pci)
    outside = Host.objects.create(name="web-1", transport="local")
    outside.groups.add(web)
    secret = create_secret(name="pci-db", value="s3cret-pci", host_groups=[pci])
    return {"pci": pci, "web": web, "inside": inside, "outside": outside, "secret": secret}


def test_admins_limit_a_secret_to_host_groups_in_the_api(admin_client, fleet):
    response = _post(
        admin_client, "/api/v1/secrets/", {"name": "web-db", "value": "v", "host_groups": ["web"]}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["host_groups"] == ["web"] and body["unrestricted"] is False
    assert "value" not in body
    response = _post(admin_client, "/api/v1/secrets/", {"name": "all-db", "value": "v"})
    assert response.json()["unrestricted"] is True and response.json()["host_groups"] == []
    response = _post(
        admin_client,
        "/api/v1/secrets/",
        {"name": "both", "value": "v", "host_groups": ["web"], "unrestricted": True},
    )
    assert response.status_code == 400 and "unrestricted" in response.json()["errors"]
    assert not Secret.objects.filter(name="both").exists()


def test_a_container_run_outside_the_secrets_groups_is_a_400(admin_client, fleet):
    url = reverse("host-containers", args=[fleet["outside"].pk])
    response = _post(admin_client, url, SPEC)
    assert response.status_code == 400, response.content
    message = response.json()["errors"]["env_secrets"][0]
    assert "pci-db" in message and "web-1" in message and "pci" in message
    assert not Operation.objects.filter(action="container.run").exists()
    inside = reverse("host-containers", args=[fleet["inside"].pk])
    assert _post(admin_client, inside, SPEC).status_code == 202


def test_an_admin_override_does_not_lift_a_secrets_scope(admin_client, fleet):
    url = reverse("host-containers", args=[fleet["outside"].pk])
    response = _post(admin_client, url, {**SPEC, "policy_override": True})
    assert response.status_code == 400
    assert "env_secrets" in response.json()["errors"]


def test_revisions_and_deploys_are_held_to_the_secrets_scope(admin_client, fleet):
    service = Service.objects.create(name="api")
    service.hosts.add(fleet["inside"])
    revisions = reverse("service-revisions", args=[service.pk])
    assert _post(admin_client, revisions, {"spec": SPEC}).status_code == 201
    # The service grows onto a host outside the secret's groups: its revision with the
    # secret must not deploy there, and no new one may be made.
    service.hosts.add(fleet["outside"])
    response = _post(admin_client, reverse("service-deploy", args=[service.pk]), {})
    assert response.status_code == 400
    assert "spec.env_secrets" in response.json()["errors"]
    assert not Rollout.objects.exists()
    response = _post(admin_client, revisions, {"spec": SPEC})
    assert response.status_code == 400 and "spec.env_secrets" in response.json()["errors"]
    assert Revision.objects.count() == 1


def test_the_revision_page_is_held_to_the_secrets_scope(admin_client, fleet):
    service = Service.objects.create(name="api")
    service.hosts.add(fleet["outside"])
    response = admin_client.post(
        reverse("frontend:revision-create", args=[service.pk]),
        {"image": IMAGE, "env_secrets": "DB_PASSWORD=pci-db", "restart_policy": "no",
         "health_mode": "none"},
    )  # fmt: skip
    assert response.status_code == 200
    assert any("pci-db" in m for m in response.context["form"].errors["env_secrets"])
    assert not Revision.objects.exists()


def test_the_worker_refuses_too(fleet):
    """A spec that got past the doors (made before the secret was limited, or a bug)
    still never carries the value to a host outside the secret's groups."""
    with pytest.raises(SecretOutOfScope) as refused:
        resolve_env(SPEC, fleet["outside"])
    assert "s3cret-pci" not in str(refused.value)
    assert resolve_env(SPEC, fleet["inside"])["env"] == {"DB_PASSWORD": "s3cret-pci"}


def test_an_unrestricted_secret_goes_everywhere(fleet):
    create_secret(name="shared", value="v-shared")
    spec = {"image": IMAGE, "env_secrets": {"TOKEN_X": "shared"}}
    assert resolve_env(spec, fleet["outside"])["env"] == {"TOKEN_X": "v-shared"}


def test_a_scoped_admin_cannot_change_secrets(fleet):
    client = logged_in(make_user("admin-pci", Role.ADMIN, [fleet["pci"]]))
    assert client.get("/api/v1/secrets/").status_code == 200
    response = _post(client, "/api/v1/secrets/", {"name": "mine", "value": "v",
                                                  "host_groups": ["pci"]})  # fmt: skip
    assert response.status_code == 403
    response = client.patch(
        f"/api/v1/secrets/{fleet['secret'].pk}/",
        json.dumps({"value": "replaced"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Secret.objects.get(pk=fleet["secret"].pk).value == "s3cret-pci"


def test_a_scoped_admin_cannot_change_secrets_in_the_django_admin(fleet, admin_client):
    # Staff with every permission on secrets, but limited to one host group.
    user = make_user("admin-pci-2", Role.ADMIN, [fleet["pci"]])
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_secret"))
    client = logged_in(user)
    assert client.get(reverse("admin:containers_secret_changelist")).status_code == 200
    assert client.get(reverse("admin:containers_secret_add")).status_code == 403
    change = reverse("admin:containers_secret_change", args=[fleet["secret"].pk])
    response = client.post(change, {"name": "renamed", "new_value": "x"})
    assert response.status_code in {302, 403}
    assert Secret.objects.get(pk=fleet["secret"].pk).name == "pci-db"
    # An unscoped admin limits a secret there, audited through the service.
    response = admin_client.post(
        reverse("admin:containers_secret_add"),
        {"name": "web-db", "value": "v", "host_groups": [fleet["web"].pk]},
    )
    assert response.status_code == 302
    stored = Secret.objects.get(name="web-db")
    assert [group.name for group in stored.host_groups.all()] == ["web"]
    assert Operation.objects.filter(action="secret.create", target_name="web-db").exists()
