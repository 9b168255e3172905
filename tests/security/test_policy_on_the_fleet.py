"""End to end on the test fleet: Berth writes the host's policy file over SFTP (0600,
the effective policy), a container run with an allowed bind starts with it, a denied
one never reaches the host, and an admin's override works for that run only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from django.urls import reverse

from operations.models import Operation
from policies.models import ContainerPolicy
from tests.fleet import wait_for
from tests.integration.container_support import docker_state, finished, online_host, post, unique

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("short_timeouts")]


def _policy_file(fleet, name: str) -> Path:
    return Path(fleet.raw_host(name)["home"]) / ".berth" / "policy.json"


def _prefixes(path: Path) -> list[str] | None:
    try:
        return json.loads(path.read_text())["allowed_bind_prefixes"]
    except (OSError, ValueError):
        return None


def test_allowed_bind_runs_and_a_denied_one_never_reaches_the_host(
    admin_client, register, fleet, tmp_path
):
    allowed = tmp_path / "data"
    (allowed / "site").mkdir(parents=True)
    ContainerPolicy.objects.create(allowed_bind_prefixes=[str(allowed)])
    fleet_host = fleet["h1"]
    host = online_host(register, fleet_host)
    url = reverse("host-containers", args=[host.pk])
    image = f"{fleet.registry}/demo/sleeper:v1"
    ok_name, denied_name, override_name = unique("pol"), unique("pol"), unique("pol")
    try:
        spec = {"image": image, "name": ok_name, "volumes": [f"{allowed}/site:/site:ro"]}
        response = post(admin_client, url, spec)
        assert response.status_code == 202, response.content
        operation = finished(response.json()["operation"], timeout=180)
        assert operation.status == "succeeded", operation.error
        assert docker_state(fleet_host, ok_name) == "running"
        binds = fleet_host.docker("inspect", "-f", "{{json .HostConfig.Binds}}", ok_name).stdout
        assert f"{allowed}/site:/site:ro" in json.loads(binds)
        policy_file = _policy_file(fleet, "h1")
        assert _prefixes(policy_file) == [str(allowed)]
        assert stat.S_IMODE(policy_file.stat().st_mode) == 0o600

        before = Operation.objects.count()
        denied = {"image": image, "name": denied_name, "volumes": [f"{tmp_path}:/x"]}
        response = post(admin_client, url, denied)
        assert response.status_code == 400
        assert "the global default policy" in response.json()["errors"]["volumes"][0]
        assert Operation.objects.count() == before
        assert docker_state(fleet_host, denied_name) is None

        # An admin's override: the agent's file allows that run's bind, then no longer.
        override = {**denied, "name": override_name, "policy_override": True}
        response = post(admin_client, url, override)
        assert response.status_code == 202, response.content
        operation = finished(response.json()["operation"], timeout=180)
        assert operation.status == "succeeded", operation.error
        assert operation.params["policy_override"] is True
        assert docker_state(fleet_host, override_name) == "running"
        wait_for(
            lambda: _prefixes(policy_file) == [str(allowed)],
            timeout=10,
            what="the policy file to be restored",
        )
    finally:
        for name in (ok_name, denied_name, override_name):
            fleet_host.docker("rm", "-f", name, check=False)


def test_an_admin_override_deploys_on_the_host_and_converges_again(
    admin_client, register, fleet, tmp_path, settings
):
    """The override reaches the agent for a rollout too: the host's policy file grants
    that revision's exact spec (privileged, a bind the policy does not allow) without
    widening the policy, for as long as the revision is the service's, so convergence
    (no admin involved) deploys it again."""
    from containers.models import Container
    from deployments.choices import RolloutStatus
    from deployments.models import Rollout, Service
    from deployments.services import converge_host

    def ended(pk: int) -> Rollout:
        return wait_for(
            lambda: (
                Rollout.objects.filter(pk=pk)
                .exclude(status__in=[RolloutStatus.PENDING, RolloutStatus.RUNNING])
                .first()
            ),
            timeout=180,
            what=f"rollout #{pk} to finish",
        )

    def containers() -> list[str]:
        label = f"label=berth.service={service.name}"
        return fleet_host.docker("ps", "-aq", "--filter", label).stdout.split()

    data = tmp_path / "data"
    data.mkdir()
    fleet_host = fleet["h1"]
    host = online_host(register, fleet_host)
    service = Service.objects.create(name=unique("pol-svc"))
    service.hosts.add(host)
    spec = {
        "image": f"{fleet.registry}/demo/sleeper:v1",
        "volumes": [f"{data}:/data"],
        "privileged": True,
        # Not root: the test fleet's nested engines cannot hand root every capability.
        "user": "1000",
        "env": {"MODE": "override"},
    }
    revisions = reverse("service-revisions", args=[service.pk])
    body = {"spec": spec, "health": {"mode": "none"}}
    assert post(admin_client, revisions, body).status_code == 400
    response = post(admin_client, revisions, {**body, "policy_override": True})
    assert response.status_code == 201, response.content
    try:
        deploy = reverse("service-deploy", args=[service.pk])
        response = post(admin_client, deploy, {"policy_override": True})
        assert response.status_code == 202, response.content
        rollout = ended(response.json()["id"])
        assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
        names = containers()
        assert len(names) == 1
        inspected = json.loads(
            fleet_host.docker("inspect", "-f", "{{json .HostConfig}}", names[0]).stdout
        )
        assert inspected["Privileged"] is True
        assert f"{data}:/data:rw" in inspected["Binds"]
        # The file grants the revision's spec only; its bind prefixes are not widened.
        policy = json.loads(_policy_file(fleet, "h1").read_text())
        assert policy["version"] == 2 and policy["allowed_bind_prefixes"] == []
        assert policy["allow_privileged"] is False and len(policy["granted_specs"]) == 1

        # The container is gone: convergence deploys the approved revision again.
        fleet_host.docker("rm", "-f", *names)
        Container.objects.filter(host=host).delete()  # as the next refresh would find
        settings.BERTH_CONVERGE_SETTLE = 0
        converged = converge_host(host)
        assert len(converged) == 1
        rollout = ended(converged[0].pk)
        assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
        assert len(containers()) == 1
    finally:
        for name in containers():
            fleet_host.docker("rm", "-f", name, check=False)
