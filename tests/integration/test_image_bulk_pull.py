"""A pull onto several hosts at once: each host's pull is its own child operation,
and one unreachable host fails only its own part."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from operations.models import Operation
from tests.fleet import run_testbed, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _with_status(host: Host, status: str) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=status).first(),
        what=f"{host.name} to be {status}",
    )


def test_bulk_pull_with_one_host_unreachable_reports_two_of_three(register, admin_client, fleet):
    h1 = _with_status(register(fleet["h1"]), HostStatus.ONLINE)
    h2 = _with_status(register(fleet["h2"]), HostStatus.ONLINE)
    ref = f"{fleet.registry}/demo/web:v2"
    run_testbed("sshd", "stop", "h3")
    try:
        h3 = _with_status(register(fleet["h3"]), HostStatus.UNREACHABLE)

        response = admin_client.post(
            reverse("image-pull"),
            {"ref": ref, "hosts": [h1.pk, h2.pk, h3.pk]},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        assert response["Location"] == response.json()["operation_url"]
        url = response.json()["operation_url"]

        def finished():
            body = admin_client.get(url).json()
            return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

        parent = wait_for(finished, timeout=120, interval=0.3, what="the bulk pull to finish")
    finally:
        run_testbed("sshd", "start", "h3")

    assert parent["action"] == "bulk.image.pull"
    assert parent["status"] == "failed"
    assert parent["error"].startswith("2 of 3 succeeded")
    children = {child.host_id: child for child in Operation.objects.filter(parent_id=parent["id"])}
    assert children[h1.pk].status == children[h2.pk].status == "succeeded"
    assert ref in children[h1.pk].result["tags"]
    assert children[h3.pk].status == "failed"
    assert "cannot reach" in children[h3.pk].error
    assert fleet["h3"].address in children[h3.pk].error
    per_host = {row["host"]: row["status"] for row in parent["result"]["targets"]}
    assert per_host == {h1.pk: "succeeded", h2.pk: "succeeded", h3.pk: "failed"}
    for fleet_host in (fleet["h1"], fleet["h2"]):
        assert fleet_host.docker("images", "-q", ref).stdout.strip()
