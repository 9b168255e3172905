"""Stored containers follow exactly what the host reports."""

import pytest

from containers.models import Container
from containers.services import reconcile_containers
from hosts.models import Host

pytestmark = pytest.mark.django_db


def _reported(container_id, name, state="running"):
    return {
        "id": container_id,
        "name": name,
        "image": "demo/web:v1",
        "state": state,
        "status": "Up",
        "labels": {"app": "web"},
        "ports": [],
        "created": 1_700_000_000,
    }


def test_reconcile_adds_updates_and_removes_containers():
    host = Host.objects.create(name="h", transport="local")
    counts = reconcile_containers(host, [_reported("a" * 64, "web"), _reported("b" * 64, "db")])
    assert (counts.created, counts.updated, counts.deleted) == (2, 0, 0)

    counts = reconcile_containers(host, [_reported("a" * 64, "web", state="exited")])
    assert (counts.created, counts.updated, counts.deleted) == (0, 1, 1)
    assert list(Container.objects.values_list("name", "state")) == [("web", "exited")]


def test_reconcile_writes_nothing_when_nothing_changed(django_assert_num_queries):
    host = Host.objects.create(name="h", transport="local")
    reconcile_containers(host, [_reported("a" * 64, "web")])
    with django_assert_num_queries(1):  # the read, and no writes
        reconcile_containers(host, [_reported("a" * 64, "web")])
