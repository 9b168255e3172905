"""A real worker logging JSON: every line logged while an operation's task runs names the
operation, Celery's own line about the task's end included, so an operator can pull
one operation's whole story out of the worker's log."""

from __future__ import annotations

import json
import uuid

import pytest

from deployments import services
from deployments.models import Service
from hosts import services as host_services
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for
from tests.integration.rollout_support import finished, on_host

pytestmark = pytest.mark.django_db(transaction=True)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_every_line_of_an_operations_task_names_the_operation(register, fleet, worker_log):
    host = register(fleet["h1"])
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 online",
    )
    service = Service.objects.create(name=f"logs-{uuid.uuid4().hex[:6]}")
    service.hosts.set([host])
    revision = services.create_revision(
        service, spec={"image": f"{fleet.registry}/demo/sleeper:v1"}, health={"mode": "none"}
    )
    try:
        rollout = finished(services.request_deploy(service, revision, actor=None), timeout=60)
        refresh = host_services.request_refresh(host, actor=None)
        wait_for(
            lambda: refresh.__class__.objects.filter(
                pk=refresh.pk, status__in=["succeeded", "failed"]
            ).exists(),
            what="the refresh operation to end",
        )

        def told_of_both() -> list[dict] | None:
            lines = _lines(worker_log)
            ends = {
                line.get("operation_id")
                for line in lines
                if "succeeded in" in line["message"] or "failed" in line["message"]
            }
            return lines if {rollout.operation_id, refresh.pk} <= ends else None

        lines = wait_for(told_of_both, timeout=30, what="Celery's lines about both tasks' ends")
    finally:
        for container in on_host(fleet, "h1", service.name):
            fleet["h1"].docker("rm", "-f", container["id"], check=False)

    # The Celery tasks that ran an operation: any line carrying both ids names one.
    operation_tasks = {
        line["task_id"] for line in lines if "operation_id" in line and "task_id" in line
    }
    assert len(operation_tasks) >= 2
    unnamed = [
        line
        for line in lines
        if line.get("task_id") in operation_tasks and "operation_id" not in line
    ]
    assert not unnamed, unnamed[:5]
