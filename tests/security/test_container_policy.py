"""The container security policy on the server: an operator cannot bind the host's
root, the Docker socket or any path the policy does not allow, through any door; an
admin can go past the policy (never the hard deny list) only by saying so, and that
is recorded; only an unscoped admin edits policies, and every edit is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.roles import Role
from deployments.models import Revision, Rollout, Service
from hosts.models import Host, HostGroup
from operations.models import Operation
from policies.models import ContainerPolicy
from policies.paths import intersect
from policies.services import effective_prefixes, policy_document
from tests.unit.roles_support import logged_in, make_user

pytestmark = pytest.mark.django_db

IMAGE = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def host():
    return Host.objects.create(name="h1", transport="local")


@pytest.fixture
def operator(host):
    return logged_in(make_user("op", Role.OPERATOR))


def _run(client, host, volumes, **extra):
    url = reverse("host-containers", args=[host.pk])
    body = {"image": IMAGE, "volumes": volumes, **extra}
    return client.post(url, body, content_type="application/json")


@pytest.mark.parametrize(
    "volume",
    [
        "/:/host",
        "/var/run/docker.sock:/var/run/docker.sock",
        "/run/docker.sock:/s",
        "/run/berth-testbed/h1/docker.sock:/s",
        "/srv/../etc:/x",
        "/etc/:/x",
        "//proc:/x",
        "/var/lib/docker/volumes:/x",
        "/home/alice/.ssh:/x:ro",
    ],
)
def test_operator_cannot_bind_a_denied_path_even_when_the_policy_allows_everything_else(
    operator, host, volume
):
    ContainerPolicy.objects.create(allowed_bind_prefixes=["/srv", "/var", "/opt"])
    response = _run(operator, host, [volume])
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    # A path written un-normalised is refused as such before the policy looks at it.
    assert "deny list" in errors.get("volumes", [""])[0] or "volumes.0.source" in errors
    assert not Operation.objects.exists()


def test_host_binds_are_refused_by_default_and_the_message_names_the_policy(operator, host):
    response = _run(operator, host, ["/srv/data:/data"])
    assert response.status_code == 400
    assert "the global default policy" in response.json()["errors"]["volumes"][0]
    assert not Operation.objects.exists()


def test_named_volumes_stay_allowed(operator, host):
    assert _run(operator, host, ["cache:/cache"]).status_code == 202


def test_a_policy_allowing_srv_data_lets_an_operator_bind_under_it(operator, host):
    ContainerPolicy.objects.create(allowed_bind_prefixes=["/srv/data"])
    assert _run(operator, host, ["/srv/data/x:/x"]).status_code == 202
    assert _run(operator, host, ["/srv/data:/x"]).status_code == 202
    assert _run(operator, host, ["/srv/data2:/x"]).status_code == 400
    assert _run(operator, host, ["/srv/data/../other:/x"]).status_code == 400


def test_every_group_policy_of_a_host_must_allow_a_bind(operator, host):
    web = HostGroup.objects.create(name="web")
    pci = HostGroup.objects.create(name="pci")
    host.groups.add(web, pci)
    ContainerPolicy.objects.create(host_group=web, allowed_bind_prefixes=["/srv"])
    ContainerPolicy.objects.create(host_group=pci, allowed_bind_prefixes=["/srv/public"])
    assert _run(operator, host, ["/srv/public/a:/a"]).status_code == 202
    response = _run(operator, host, ["/srv/private:/a"])
    assert response.status_code == 400
    assert "host group pci" in response.json()["errors"]["volumes"][0]
    assert effective_prefixes(host) == ["/srv/public"]
    assert policy_document(host)["allowed_bind_prefixes"] == ["/srv/public"]


def test_prefix_intersection():
    assert intersect(["/srv", "/opt/a"], ["/srv/x", "/opt"]) == ["/opt/a", "/srv/x"]
    assert intersect(["/srv/data"], ["/srv/data2"]) == []


def test_a_group_without_its_own_policy_falls_back_to_the_global_default(operator, host):
    group = HostGroup.objects.create(name="web")
    host.groups.add(group)
    ContainerPolicy.objects.create(allowed_bind_prefixes=["/srv"])
    assert _run(operator, host, ["/srv/a:/a"]).status_code == 202


def test_privileged_is_a_400_naming_it(operator, host):
    response = _run(operator, host, [], privileged=True)
    assert response.status_code == 400
    assert "privileged" in response.json()["errors"]
    assert not Operation.objects.exists()


def test_reserved_labels_are_refused_in_a_run(operator, host):
    response = _run(operator, host, [], labels={"berth.service": "web"})
    assert response.status_code == 400
    assert "labels" in response.json()["errors"]


# --- admins and the override ------------------------------------------------------------------


def test_admin_is_held_to_the_policy_without_override(admin_client, host):
    assert _run(admin_client, host, ["/srv/data:/d"]).status_code == 400


def test_admin_override_is_recorded_in_the_operation(admin_client, host):
    response = _run(admin_client, host, ["/srv/data:/d"], policy_override=True)
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.params["policy_override"] is True
    assert "policy_override" not in operation.params["spec"]


def test_override_never_lifts_the_deny_list(admin_client, host):
    response = _run(admin_client, host, ["/:/host"], policy_override=True)
    assert response.status_code == 400
    assert not Operation.objects.exists()


def test_operator_cannot_override(operator, host):
    response = _run(operator, host, ["/srv/data:/d"], policy_override=True)
    assert response.status_code == 403
    assert not Operation.objects.exists()


# --- revisions and rollouts ------------------------------------------------------------------


@pytest.fixture
def service(host):
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    return svc


def _revise(client, service, spec, **extra):
    url = reverse("service-revisions", args=[service.pk])
    return client.post(url, {"spec": spec, **extra}, content_type="application/json")


def test_a_revision_with_a_denied_bind_is_a_400(operator, service):
    response = _revise(operator, service, {"image": IMAGE, "volumes": ["/:/host"]})
    assert response.status_code == 400
    assert "spec.volumes" in response.json()["errors"]
    response = _revise(operator, service, {"image": IMAGE, "volumes": ["/srv/a:/a"]})
    assert response.status_code == 400
    assert not Revision.objects.exists()


def test_a_revision_made_before_the_policy_tightened_does_not_deploy(operator, service):
    policy = ContainerPolicy.objects.create(allowed_bind_prefixes=["/srv"])
    assert _revise(operator, service, {"image": IMAGE, "volumes": ["/srv/a:/a"]}).status_code == 201
    policy.allowed_bind_prefixes = []
    policy.save()
    for verb, body in (("service-deploy", {}), ("service-rollback", {"revision": 1})):
        url = reverse(verb, args=[service.pk])
        response = operator.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "revision 1" in response.json()["errors"]["spec.volumes"][0]
    assert not Rollout.objects.exists()


def test_admin_override_on_a_revision_and_a_deploy_is_audited(admin_client, service):
    spec = {"image": IMAGE, "volumes": ["/srv/a:/a"]}
    assert _revise(admin_client, service, spec).status_code == 400
    assert _revise(admin_client, service, spec, policy_override=True).status_code == 201
    url = reverse("service-deploy", args=[service.pk])
    assert admin_client.post(url, {}, content_type="application/json").status_code == 400
    response = admin_client.post(url, {"policy_override": True}, content_type="application/json")
    assert response.status_code == 202, response.content
    records = Operation.objects.filter(action__endswith=".policy_override")
    assert sorted(records.values_list("action", flat=True)) == [
        "revision.policy_override",
        "rollout.policy_override",
    ]
    assert all(record.params["binds"] == ["/srv/a"] for record in records)


# --- editing policies ------------------------------------------------------------------------

POLICIES = "/api/v1/container-policies/"


def test_unscoped_admin_edits_policies_and_each_change_is_audited(admin_client):
    group = HostGroup.objects.create(name="web")
    response = admin_client.post(
        POLICIES,
        {"host_group": "web", "allowed_bind_prefixes": ["/srv/data/", "/srv/../opt/x"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["allowed_bind_prefixes"] == ["/opt/x", "/srv/data"]
    pk = response.json()["id"]
    response = admin_client.patch(
        f"{POLICIES}{pk}/", {"allowed_bind_prefixes": []}, content_type="application/json"
    )
    assert response.status_code == 200
    assert admin_client.delete(f"{POLICIES}{pk}/").status_code == 204
    actions = list(Operation.objects.order_by("pk").values_list("action", flat=True))
    assert actions == [
        "containerpolicy.create",
        "containerpolicy.update",
        "containerpolicy.delete",
    ]
    assert not ContainerPolicy.objects.filter(host_group=group).exists()


@pytest.mark.parametrize("prefix", ["/", "/etc", "/srv/../etc/app", "/var/run/docker.sock", "srv"])
def test_a_denied_prefix_cannot_be_saved(admin_client, prefix):
    response = admin_client.post(
        POLICIES, {"allowed_bind_prefixes": [prefix]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "allowed_bind_prefixes" in response.json()["errors"]
    assert not ContainerPolicy.objects.exists()


def test_one_global_default_only(admin_client):
    assert admin_client.post(POLICIES, {}, content_type="application/json").status_code == 201
    response = admin_client.post(POLICIES, {}, content_type="application/json")
    assert response.status_code == 400
    assert "host_group" in response.json()["errors"]


def test_scoped_admin_cannot_read_or_edit_policies():
    group = HostGroup.objects.create(name="web")
    client = logged_in(make_user("scoped", Role.ADMIN, [group]))
    body = {"host_group": "web", "allowed_bind_prefixes": ["/srv"]}
    assert client.post(POLICIES, body, content_type="application/json").status_code == 403
    assert client.get(POLICIES).status_code == 403
    assert not ContainerPolicy.objects.exists()


def test_operator_cannot_edit_policies(operator):
    response = operator.post(POLICIES, {}, content_type="application/json")
    assert response.status_code == 403


def test_the_admin_refuses_denied_prefixes_and_audits_changes(admin_client):
    url = "/admin/policies/containerpolicy/add/"
    response = admin_client.post(url, {"host_group": "", "allowed_bind_prefixes": "/srv\n/etc"})
    assert response.status_code == 200 and "deny list" in response.text
    assert not ContainerPolicy.objects.exists()
    response = admin_client.post(url, {"host_group": "", "allowed_bind_prefixes": "/srv/data/"})
    assert response.status_code == 302, response.text[:2000]
    assert ContainerPolicy.objects.get().allowed_bind_prefixes == ["/srv/data"]
    assert Operation.objects.get().action == "containerpolicy.create"


@pytest.mark.parametrize(
    "body",
    [
        {"allowed_bind_prefixes": "/srv"},
        {"allowed_bind_prefixes": [1]},
        {"allowed_bind_prefixes": [None]},
        {"allowed_bind_prefixes": ["/srv\x00x"]},
        {"allowed_bind_prefixes": ["/srv:/x"]},
        {"host_group": "no-such-group"},
        {"host_group": 7},
        {"privileged": True},
    ],
)
def test_bad_policy_bodies_are_a_400(admin_client, body):
    response = admin_client.post(POLICIES, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not ContainerPolicy.objects.exists()


# --- a service created with its first revision -------------------------------------------------


def _create_service(client, host, spec, **revision):
    body = {"name": "api", "hosts": [host.pk], "revision": {"spec": spec, **revision}}
    return client.post(reverse("service-list"), body, content_type="application/json")


def test_a_new_service_whose_first_revision_the_policy_refuses_is_not_created(operator, host):
    response = _create_service(operator, host, {"image": IMAGE, "volumes": ["/srv/a:/a"]})
    assert response.status_code == 400, response.content
    assert "revision.spec.volumes" in response.json()["errors"]
    response = _create_service(
        operator, host, {"image": IMAGE, "volumes": ["/srv/a:/a"]}, policy_override=True
    )
    assert response.status_code == 403, response.content
    assert not Service.objects.exists()
    assert not Operation.objects.filter(action="service.create").exists()


def test_an_admin_override_on_a_new_service_approves_its_first_revision(admin_client, host):
    spec = {"image": IMAGE, "volumes": ["/srv/a:/a"]}
    response = _create_service(admin_client, host, spec, policy_override=True)
    assert response.status_code == 201, response.content
    revision = Revision.objects.get(service__name="api")
    assert (revision.number, revision.policy_override) == (1, True)
    record = Operation.objects.get(action="revision.policy_override")
    assert record.params["binds"] == ["/srv/a"]
