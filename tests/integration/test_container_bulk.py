"""One request restarts every container labelled app=… across the fleet; a host that
is down fails alone, and the parent operation shows each container's outcome."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import run_testbed, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _started_at(fleet_host, name: str) -> str:
    return fleet_host.docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout.strip()


def test_bulk_restart_by_label_across_three_hosts_with_one_down(admin_client, register, fleet):
    app = f"web-{uuid.uuid4().hex[:6]}"
    names = {}
    for host_name in ("h1", "h2", "h3"):
        name = f"it-bulk-{app}-{host_name}"
        fleet[host_name].docker(
            "run",
            "-d",
            "--name",
            name,
            "--label",
            f"app={app}",
            f"{fleet.registry}/demo/sleeper:v1",
        )
        names[host_name] = name
    # Not labelled: the filter must leave it alone (and so never matches every container).
    bystander = f"it-bulk-{app}-bystander"
    try:
        fleet["h1"].docker("run", "-d", "--name", bystander, f"{fleet.registry}/demo/sleeper:v1")
        hosts = [register(fleet[host_name]) for host_name in ("h1", "h2", "h3")]
        for host in hosts:
            wait_for(
                lambda host=host: (
                    Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE)
                    .filter(containers__name=names[host.name])
                    .exists()
                ),
                what=f"{host.name} online with its container",
            )
        before = {host_name: _started_at(fleet[host_name], names[host_name]) for host_name in names}
        bystander_started = _started_at(fleet["h1"], bystander)

        run_testbed("link", "down", "h3")
        try:
            response = admin_client.post(
                reverse("container-bulk"),
                {"action": "restart", "filter": {"label": f"app={app}"}, "timeout": 1},
                content_type="application/json",
            )
            assert response.status_code == 202, response.content
            assert response.json()["matched"] == 3
            parent_url = response.json()["operation_url"]
            parent = wait_for(
                lambda: (
                    (body := admin_client.get(parent_url).json())["status"]
                    in {"succeeded", "failed"}
                    and body
                ),
                timeout=60,
                what="the bulk restart to finish",
            )
        finally:
            run_testbed("link", "up", "h3")

        assert parent["action"] == "bulk.container.restart"
        assert parent["status"] == "failed"
        assert parent["error"].startswith("2 of 3 succeeded")
        outcome = {row["target"].split(" on ")[0]: row for row in parent["result"]["targets"]}
        assert {row["status"] for row in outcome.values()} == {"succeeded", "failed"}
        assert outcome[names["h1"]]["status"] == "succeeded"
        assert outcome[names["h2"]]["status"] == "succeeded"
        assert outcome[names["h3"]]["status"] == "failed"
        assert "unreachable" in outcome[names["h3"]]["error"]
        # the two reachable hosts really restarted their container; h3's was untouched
        assert _started_at(fleet["h1"], names["h1"]) != before["h1"]
        assert _started_at(fleet["h2"], names["h2"]) != before["h2"]
        assert _started_at(fleet["h3"], names["h3"]) == before["h3"]
        assert _started_at(fleet["h1"], bystander) == bystander_started
    finally:
        for host_name, name in names.items():
            fleet[host_name].docker("rm", "-f", name, check=False)
        fleet["h1"].docker("rm", "-f", bystander, check=False)


def test_bulk_selection_that_matches_nothing_is_a_400(admin_client, celery_worker):
    response = admin_client.post(
        reverse("container-bulk"),
        {"action": "restart", "filter": {"label": "app=nothing-has-this"}},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not Container.objects.exists()
