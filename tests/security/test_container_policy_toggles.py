"""The container security policy beyond binds: privileged, capabilities, devices, host
network / PID / IPC / userns, security options that drop confinement, sysctls and
running as root. Each is refused by default (400 naming the field and the policy,
nothing queued) at every door, allowed only when every policy of the host allows it,
and an admin's recorded override goes past it. Bad values are a 400 naming the field."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.urls import reverse

from access.roles import Role
from deployments.models import Revision, Rollout, Service
from hosts.models import Host, HostGroup
from operations.models import Operation
from policies.models import ContainerPolicy
from policies.services import TOGGLES, policy_document, spec_digest
from tests.unit.roles_support import logged_in, make_user

pytestmark = pytest.mark.django_db

IMAGE = "198.18.0.1:5000/demo/web:v1"

# (spec keys, the field the 400 names, the policy toggle that allows it)
DANGEROUS = [
    ({"privileged": True}, "privileged", "allow_privileged"),
    ({"cap_add": ["SYS_ADMIN"]}, "cap_add", "allow_cap_add"),
    ({"cap_add": ["CAP_NET_ADMIN"]}, "cap_add", "allow_cap_add"),
    ({"devices": ["/dev/fuse:/dev/fuse:rwm"]}, "devices", "allow_devices"),
    ({"network_mode": "host"}, "network_mode", "allow_host_network"),
    ({"pid_mode": "host"}, "pid_mode", "allow_host_pid"),
    ({"ipc_mode": "host"}, "ipc_mode", "allow_host_ipc"),
    ({"userns_mode": "host"}, "userns_mode", "allow_host_userns"),
    ({"security_opt": ["seccomp=unconfined"]}, "security_opt", "allow_unconfined"),
    ({"security_opt": ["apparmor:unconfined"]}, "security_opt", "allow_unconfined"),
    ({"security_opt": ["label=disable"]}, "security_opt", "allow_unconfined"),
    ({"security_opt": ["systempaths=unconfined"]}, "security_opt", "allow_unconfined"),
    ({"sysctls": {"net.ipv4.ip_forward": "1"}}, "sysctls", "allow_sysctls"),
]
IDS = [f"{field}-{toggle}-{i}" for i, (_, field, toggle) in enumerate(DANGEROUS)]


@pytest.fixture
def host():
    return Host.objects.create(name="h1", transport="local")


@pytest.fixture
def operator(host):
    return logged_in(make_user("op", Role.OPERATOR))


@pytest.fixture
def service(host):
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    return svc


def _run(client, host, **extra):
    url = reverse("host-containers", args=[host.pk])
    return client.post(url, {"image": IMAGE, **extra}, content_type="application/json")


def _revise(client, service, spec, **extra):
    url = reverse("service-revisions", args=[service.pk])
    return client.post(url, {"spec": spec, **extra}, content_type="application/json")


@pytest.mark.parametrize(("extra", "field", "toggle"), DANGEROUS, ids=IDS)
def test_each_toggle_is_refused_by_default_naming_the_field_and_the_policy(
    operator, host, extra, field, toggle
):
    response = _run(operator, host, **extra)
    assert response.status_code == 400, response.content
    message = response.json()["errors"][field][0]
    assert "the global default policy" in message and toggle in message
    assert not Operation.objects.exists()


@pytest.mark.parametrize(("extra", "field", "toggle"), DANGEROUS, ids=IDS)
def test_each_toggle_is_refused_in_a_revision(operator, service, extra, field, toggle):
    response = _revise(operator, service, {"image": IMAGE, **extra})
    assert response.status_code == 400, response.content
    assert f"spec.{field}" in response.json()["errors"]
    assert not Revision.objects.exists()


@pytest.mark.parametrize(("extra", "field", "toggle"), DANGEROUS, ids=IDS)
def test_a_policy_allowing_the_toggle_lets_it_run(operator, host, extra, field, toggle):
    ContainerPolicy.objects.create(**{toggle: True})
    response = _run(operator, host, **extra)
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    for key, value in extra.items():
        assert operation.params["spec"][key] == value


def test_every_group_policy_of_the_host_must_allow_a_toggle(operator, host):
    web = HostGroup.objects.create(name="web")
    pci = HostGroup.objects.create(name="pci")
    host.groups.add(web, pci)
    ContainerPolicy.objects.create(host_group=web, allow_privileged=True, allow_sysctls=True)
    ContainerPolicy.objects.create(host_group=pci, allow_sysctls=True)
    response = _run(operator, host, privileged=True)
    assert response.status_code == 400
    assert "host group pci" in response.json()["errors"]["privileged"][0]
    assert _run(operator, host, sysctls={"net.core.somaxconn": "1024"}).status_code == 202
    document = policy_document(host)
    assert document["allow_privileged"] is False and document["allow_sysctls"] is True


def test_harmless_values_need_no_policy(operator, host):
    response = _run(
        operator,
        host,
        network_mode="bridge",
        ipc_mode="private",
        security_opt=["no-new-privileges", "no-new-privileges:true"],
        privileged=False,
        cap_add=[],
        devices=[],
        sysctls={},
        user="1000:1000",
    )
    assert response.status_code == 202, response.content


def test_a_deploy_of_a_revision_made_before_the_policy_tightened_is_a_400(operator, service):
    policy = ContainerPolicy.objects.create(allow_privileged=True)
    assert _revise(operator, service, {"image": IMAGE, "privileged": True}).status_code == 201
    policy.allow_privileged = False
    policy.save()
    for verb, body in (("service-deploy", {}), ("service-rollback", {"revision": 1})):
        url = reverse(verb, args=[service.pk])
        response = operator.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "revision 1" in response.json()["errors"]["spec.privileged"][0]
    assert not Rollout.objects.exists()


# --- running as root --------------------------------------------------------------------------


def test_root_is_allowed_by_default(operator, host):
    assert _run(operator, host).status_code == 202


@pytest.mark.parametrize("user", [None, "", "0", "root", "0:0", "root:staff", "00", "app"])
def test_a_policy_refusing_root_wants_a_numeric_non_root_user(operator, host, user):
    ContainerPolicy.objects.create(allow_root_user=False)
    extra = {} if user is None else {"user": user}
    response = _run(operator, host, **extra)
    assert response.status_code == 400, response.content
    message = response.json()["errors"]["user"][0]
    assert "allow_root_user" in message or (user == "" and "blank" in message)
    assert not Operation.objects.exists()


@pytest.mark.parametrize("user", ["1000", "1000:1000", "65534:0"])
def test_a_policy_refusing_root_runs_a_non_root_user(operator, host, user):
    ContainerPolicy.objects.create(allow_root_user=False)
    assert _run(operator, host, user=user).status_code == 202


# --- bad values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"privileged": "yes please"}, "privileged"),
        ({"privileged": "yes"}, "privileged"),
        ({"privileged": 1}, "privileged"),
        ({"cap_add": "SYS_ADMIN"}, "cap_add"),
        ({"cap_add": ["sys admin"]}, "cap_add"),
        ({"cap_add": ["CAP_"]}, "cap_add"),
        ({"devices": ["sda"]}, "devices"),
        ({"devices": ["/dev/sda:/dev/sda:rwx"]}, "devices"),
        ({"devices": ["/dev/../etc/shadow"]}, "devices"),
        ({"network_mode": "container:abc"}, "network_mode"),
        ({"network_mode": "host", "ports": ["8080:80"]}, "ports"),
        ({"pid_mode": "container:abc"}, "pid_mode"),
        ({"ipc_mode": "bogus"}, "ipc_mode"),
        ({"userns_mode": "private"}, "userns_mode"),
        ({"security_opt": ["seccomp={}"]}, "security_opt"),
        ({"security_opt": "no-new-privileges"}, "security_opt"),
        ({"sysctls": {"net.ipv4.ip_forward": 1}}, "sysctls"),
        ({"sysctls": {"bad key": "1"}}, "sysctls"),
        ({"user": "a b"}, "user"),
        ({"user": 1000}, "user"),
    ],
)
def test_bad_values_are_a_400_naming_the_field(admin_client, host, extra, field):
    response = _run(admin_client, host, policy_override=True, **extra)
    assert response.status_code == 400, response.content
    assert any(key.split(".")[0] == field for key in response.json()["errors"]), response.json()
    assert not Operation.objects.exists()


# --- the override ------------------------------------------------------------------------------


def test_admin_override_runs_a_privileged_container_and_is_recorded(admin_client, host):
    assert _run(admin_client, host, privileged=True).status_code == 400
    response = _run(admin_client, host, privileged=True, policy_override=True)
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.params["policy_override"] is True
    # While the run is in flight, the host's policy file grants that exact spec.
    spec = {**operation.params["spec"], "labels": {"berth.run": operation.params["run_key"]}}
    assert spec_digest(spec) in policy_document(host)["granted_specs"]


def test_operator_cannot_override_a_toggle(operator, host):
    assert _run(operator, host, privileged=True, policy_override=True).status_code == 403


def test_an_overridden_revision_stays_granted_on_its_hosts(admin_client, service, host):
    spec = {"image": IMAGE, "privileged": True, "env": {"MODE": "x"}}
    response = _revise(admin_client, service, spec, policy_override=True)
    assert response.status_code == 201, response.content
    assert response.json()["policy_override"] is True
    revision = Revision.objects.get()
    assert revision.policy_override is True
    url = reverse("service-deploy", args=[service.pk])
    response = admin_client.post(url, {"policy_override": True}, content_type="application/json")
    assert response.status_code == 202, response.content
    granted = policy_document(host)["granted_specs"]
    # The digest leaves env out: secret values resolved at call time never need storing.
    assert spec_digest({"image": IMAGE, "privileged": True}) in granted
    other = Host.objects.create(name="h2", transport="local")
    assert policy_document(other)["granted_specs"] == []


def test_the_digest_is_over_canonical_json_without_env():
    spec = {"image": IMAGE, "privileged": True, "env": {"A": "1"}}
    canonical = json.dumps(
        {"image": IMAGE, "privileged": True}, sort_keys=True, separators=(",", ":")
    )
    assert spec_digest(spec) == hashlib.sha256(canonical.encode()).hexdigest()


# --- editing -----------------------------------------------------------------------------------

POLICIES = "/api/v1/container-policies/"


def test_the_toggles_are_edited_through_the_api_and_audited(admin_client):
    response = admin_client.post(
        POLICIES,
        {"allow_privileged": True, "allow_root_user": False},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["allow_privileged"] is True and body["allow_root_user"] is False
    assert all(
        body[toggle] is False
        for toggle in TOGGLES
        if toggle not in {"allow_privileged", "allow_root_user"}
    )
    pk = body["id"]
    response = admin_client.patch(
        f"{POLICIES}{pk}/", {"allow_sysctls": True}, content_type="application/json"
    )
    assert response.status_code == 200
    policy = ContainerPolicy.objects.get()
    assert policy.allow_sysctls and policy.allow_privileged and not policy.allow_root_user
    records = list(Operation.objects.order_by("pk"))
    assert [r.action for r in records] == ["containerpolicy.create", "containerpolicy.update"]
    assert records[1].params["allow_sysctls"] is True
    response = admin_client.patch(
        f"{POLICIES}{pk}/", {"allow_sysctls": "maybe"}, content_type="application/json"
    )
    assert response.status_code == 400 and "allow_sysctls" in response.json()["errors"]


def test_the_admin_edits_the_toggles(admin_client):
    url = "/admin/policies/containerpolicy/add/"
    response = admin_client.post(
        url,
        {
            "host_group": "",
            "allowed_bind_prefixes": "",
            "allow_devices": "on",
            "allow_root_user": "on",
        },
    )
    assert response.status_code == 302, response.text[:2000]
    policy = ContainerPolicy.objects.get()
    assert policy.allow_devices and policy.allow_root_user and not policy.allow_privileged
    assert Operation.objects.get().params["allow_devices"] is True


def test_the_policy_document_is_version_2_and_carries_every_toggle(host):
    document = policy_document(host)
    assert document["version"] == 2
    assert document["allowed_bind_prefixes"] == []
    assert document["granted_specs"] == []
    assert {key: document[key] for key in TOGGLES} == {
        toggle: toggle == "allow_root_user" for toggle in TOGGLES
    }
