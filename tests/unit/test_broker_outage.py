"""With the task queue (Redis) unreachable, an action answers a JSON 503 within a few
seconds, and the operation it recorded is failed with that reason, never left pending.

The broker is pointed at a closed port on 127.0.0.1, so every publish is really tried
and really refused; the transactional database lets ``on_commit`` run as it does in
production."""

from __future__ import annotations

import socket
import time

import pytest
from django.urls import reverse

from berth.celery import app as celery_app
from containers.models import Container
from deployments.choices import ACTIVE_ROLLOUT_STATUSES
from deployments.models import Rollout, Service
from hosts.models import Host
from operations.choices import OperationStatus
from operations.models import Operation

pytestmark = pytest.mark.django_db(transaction=True)

REF = "198.18.0.1:5000/demo/web:v1"
# Bounded publish retries (settings.CELERY_TASK_PUBLISH_RETRY_POLICY): a refused
# connection costs well under this; Celery's defaults are not what is measured here.
QUICK = 5.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is


def _point_broker_at(url: str) -> None:
    celery_app.conf.broker_url = url
    # Connections made before this point still go to the old broker.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    previous = celery_app.conf.broker_url
    _point_broker_at(f"redis://127.0.0.1:{_closed_port()}/0")
    yield
    _point_broker_at(previous)


@pytest.fixture
def host():
    return Host.objects.create(name="h1", transport="local")


def _assert_503(response, started: float) -> dict:
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "task queue" in body["message"]
    assert body["detail"] == body["message"]
    assert elapsed < QUICK, f"answered after {elapsed:.1f} s"
    return body


def _only_operation(action_prefix: str) -> Operation:
    operation = Operation.objects.get(action__startswith=action_prefix)
    assert operation.status == OperationStatus.FAILED
    assert "task queue" in operation.error
    assert operation.finished_at is not None
    return operation


def test_host_refresh_is_a_503_and_its_operation_failed(admin_client, host, broker_down):
    started = time.monotonic()
    response = admin_client.post(reverse("host-refresh", args=[host.pk]))
    body = _assert_503(response, started)
    operation = _only_operation("host.refresh")
    assert f"#{operation.pk}" in body["message"]


def test_container_action_is_a_503_and_its_operation_failed(admin_client, host, broker_down):
    container = Container.objects.create(
        host=host, container_id="c" * 64, name="web", image="demo/web:v1", state="running"
    )
    started = time.monotonic()
    response = admin_client.post(
        reverse("container-restart", args=[container.pk]), {}, content_type="application/json"
    )
    _assert_503(response, started)
    _only_operation("container.restart")


def test_bulk_action_is_a_503_and_every_operation_failed(admin_client, host, broker_down):
    containers = [
        Container.objects.create(
            host=host, container_id=str(n) * 64, name=f"web-{n}", image="demo/web:v1"
        )
        for n in (1, 2)
    ]
    started = time.monotonic()
    response = admin_client.post(
        reverse("container-bulk"),
        {"action": "start", "ids": [container.pk for container in containers]},
        content_type="application/json",
    )
    _assert_503(response, started)
    assert not Operation.objects.exclude(status=OperationStatus.FAILED).exists()
    assert Operation.objects.filter(action="container.start").count() == 2
    parent = Operation.objects.get(action="bulk.container.start")
    assert parent.finished_at is not None


def test_deploy_is_a_503_and_leaves_no_active_rollout(admin_client, host, broker_down):
    service = Service.objects.create(name="web")
    service.hosts.add(host)
    revised = admin_client.post(
        reverse("service-revisions", args=[service.pk]),
        {"spec": {"image": REF}},
        content_type="application/json",
    )
    assert revised.status_code == 201, revised.content
    started = time.monotonic()
    response = admin_client.post(
        reverse("service-deploy", args=[service.pk]), {}, content_type="application/json"
    )
    _assert_503(response, started)
    _only_operation("service.")  # deploy or rollout, by version
    rollout = Rollout.objects.get()
    assert rollout.status not in ACTIVE_ROLLOUT_STATUSES, rollout.status


def test_page_action_says_the_task_queue_is_unreachable(admin_client, host, broker_down):
    response = admin_client.post(
        reverse("frontend:host-refresh", args=[host.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200  # htmx swaps in 2xx answers only
    assert b"task queue" in response.content
    assert b"Traceback" not in response.content
    _only_operation("host.refresh")


def test_plain_page_post_comes_back_with_the_message(admin_client, host, broker_down):
    response = admin_client.post(
        reverse("frontend:host-refresh", args=[host.pk]),
        HTTP_REFERER=f"http://testserver/hosts/{host.pk}/",
        follow=True,
    )
    assert response.redirect_chain[-1][0].endswith(f"/hosts/{host.pk}/")
    assert b"task queue" in response.content


def test_a_host_added_while_the_queue_is_down_is_a_201_and_waits_for_the_periodic_refresh(
    admin_client, broker_down
):
    """Adding a host commits it before its first refresh is queued: answering 503 would
    say nothing was done while the host exists (a retry would then be a 400 on name)."""
    started = time.monotonic()
    response = admin_client.post(
        reverse("host-list"), {"name": "h7", "transport": "local"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content[:500]
    assert time.monotonic() - started < QUICK
    assert Host.objects.filter(name="h7").exists()
    created = Operation.objects.get(action="host.create")
    assert created.status == OperationStatus.SUCCEEDED


def test_a_host_edited_while_the_queue_is_down_is_saved_and_answered_200(
    admin_client, host, broker_down
):
    response = admin_client.patch(
        reverse("host-detail", args=[host.pk]),
        {"docker_host": "unix:///run/docker-2.sock"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content[:500]
    host.refresh_from_db()
    assert host.docker_host == "unix:///run/docker-2.sock"
