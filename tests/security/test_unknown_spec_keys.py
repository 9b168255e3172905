"""A spec key the server does not know is a 400 naming it, never silently dropped: a
dropped ``"uts_mode": "host"`` would let a caller believe a setting took effect (or
probe what the server checks) while nothing records the attempt. (``privileged`` and
the other settings a policy governs are known keys: tests/security/
test_container_policy_toggles.py.)"""

import pytest
from django.urls import reverse

from deployments.models import Revision, Service
from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db

IMAGE = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def host():
    return Host.objects.create(name="h1", transport="local")


@pytest.fixture
def service(host):
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    return svc


def _run(client, host, body):
    url = reverse("host-containers", args=[host.pk])
    return client.post(url, body, content_type="application/json")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        # The policy governs privileged, cap_add, network_mode, … (their own tests);
        # these Docker settings Berth does not take at all.
        ({"cap_drop": ["ALL"]}, "cap_drop"),
        ({"volumes_from": ["db"]}, "volumes_from"),
        ({"pid": "host"}, "pid"),
        ({"uts_mode": "host"}, "uts_mode"),
        ({"cgroupns_mode": "host"}, "cgroupns_mode"),
        ({"oom_kill_disable": True}, "oom_kill_disable"),
        ({"restart_policy": {"name": "always", "forever": True}}, "restart_policy.forever"),
        ({"limits": {"memory": "64m", "swap": "1g"}}, "limits.swap"),
        ({"healthcheck": {"test": "true", "privileged": True}}, "healthcheck.privileged"),
    ],
)
def test_unknown_run_key_is_a_400_naming_it(admin_client, host, extra, field):
    response = _run(admin_client, host, {"image": IMAGE, **extra})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"spec": {"image": IMAGE, "uts_mode": "host"}}, "spec.uts_mode"),
        ({"spec": {"image": IMAGE, "name": "fixed"}}, "spec.name"),
        ({"spec": {"image": IMAGE}, "health": {"mode": "none", "grace": 3}}, "health.grace"),
        ({"spec": {"image": IMAGE}, "strategy": "canary"}, "strategy"),
    ],
)
def test_unknown_revision_key_is_a_400_naming_it(admin_client, service, body, field):
    url = reverse("service-revisions", args=[service.pk])
    response = admin_client.post(url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Revision.objects.exists()


def test_unknown_deploy_option_is_a_400_naming_it(admin_client, service):
    url = reverse("service-deploy", args=[service.pk])
    response = admin_client.post(url, {"batchsize": 1}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "batchsize" in response.json()["errors"]
