"""Writers that read, then write, take turns: two at once never collide on a unique key.

Each test holds one writer's transaction open while a second writer runs in another
thread (its own database connection), then lets the first commit. On SQLite the
second waits for the write lock; on PostgreSQL it must wait for a row lock and plan
again from what the first committed. Either way the test checks that it did wait,
not only that the outcome came out right.
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
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REF = "198.18.0.1:5000/demo/web:v1"


def _while_open(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``first`` in a transaction held open while ``second`` starts in another thread,
    and check that ``second`` really waited for it, not just that both came out right."""
    wrote = threading.Event()
    starting = threading.Event()
    release = threading.Event()
    second_through_early: list[bool] = []

    def in_thread(work: Callable[[], Any], hold: bool) -> Any:
        try:
            if not hold:
                starting.set()
            with transaction.atomic():
                result = work()
                if hold:
                    wrote.set()
                    release.wait(20)
                else:
                    # ``release`` is set before the first writer commits: a second
                    # writer that got here before it never waited for the first.
                    second_through_early.append(not release.is_set())
            return result
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=2) as executor:
        held = executor.submit(in_thread, first, True)
        assert wrote.wait(20), held.exception(0) if held.done() else "the first writer hung"
        waiting = executor.submit(in_thread, second, False)
        assert starting.wait(20), "the second writer never started"
        if connection.vendor == "postgresql":
            # The server itself says the second writer's session waits on a lock.
            wait_for(_a_session_waits_on_a_lock, timeout=20, what="the second writer to wait")
        else:
            # SQLite shows no waiters: give a writer that would not wait time to finish.
            time.sleep(0.5)
        still_waiting = not waiting.done()
        release.set()
        results = held.result(30), waiting.result(30)
    assert still_waiting, "the second writer finished while the first held its transaction"
    assert second_through_early == [False], "the second writer wrote before the first let go"
    return results


def _a_session_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (waiting,) = cursor.fetchone()
    return waiting > 0


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
