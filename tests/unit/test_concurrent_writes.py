"""Writers that read, then write, take turns: two at once never collide on a unique key.

Each test holds one writer's transaction open while a second writer runs in another
thread (its own database connection), then lets the first commit. On SQLite the
second waits for the write lock; on PostgreSQL it must wait for a row lock and plan
again from what the first committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction

from containers.models import Container
from containers.services import reconcile_containers
from deployments.models import Revision, Service
from deployments.services import create_revision
from hosts.models import Host

pytestmark = pytest.mark.django_db(transaction=True)

REF = "198.18.0.1:5000/demo/web:v1"


def _while_open(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``first`` in a transaction held open while ``second`` starts in another thread."""
    wrote = threading.Event()
    release = threading.Event()

    def in_thread(work: Callable[[], Any], hold: bool) -> Any:
        try:
            with transaction.atomic():
                result = work()
                if hold:
                    wrote.set()
                    release.wait(20)
            return result
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=2) as executor:
        held = executor.submit(in_thread, first, True)
        assert wrote.wait(20), held.exception(0) if held.done() else "the first writer hung"
        waiting = executor.submit(in_thread, second, False)
        time.sleep(0.5)  # let the second writer reach its lock
        release.set()
        return held.result(30), waiting.result(30)


def _reported(container_id: str, name: str) -> dict[str, Any]:
    return {
        "id": container_id,
        "name": name,
        "image": "demo/web:v1",
        "state": "running",
        "status": "Up",
        "labels": {},
        "ports": [],
        "created": 1_700_000_000,
    }


def test_two_refreshes_of_one_host_store_each_new_container_once():
    host = Host.objects.create(name="h", transport="local")
    reported = [_reported("a" * 64, "web"), _reported("b" * 64, "db")]

    first, second = _while_open(
        lambda: reconcile_containers(host, reported), lambda: reconcile_containers(host, reported)
    )

    assert (first.created, first.updated, first.deleted) == (2, 0, 0)
    assert (second.created, second.updated, second.deleted) == (0, 0, 0)
    assert sorted(Container.objects.values_list("name", flat=True)) == ["db", "web"]


def test_two_revisions_of_one_service_made_at_once_get_the_next_two_numbers():
    service = Service.objects.create(name="web")

    first, second = _while_open(
        lambda: create_revision(service, spec={"image": REF}),
        lambda: create_revision(service, spec={"image": REF}, note="second"),
    )

    assert (first.number, second.number) == (1, 2)
    assert list(Revision.objects.order_by("number").values_list("note", flat=True)) == [
        "",
        "second",
    ]
