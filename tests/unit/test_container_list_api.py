"""The fleet-wide container list: filters, ordering, and a query count that does not
grow with the number of containers."""

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.models import Host

pytestmark = pytest.mark.django_db


def _make(count, *, host_count=3):
    hosts = [Host.objects.create(name=f"host-{i}", transport="local") for i in range(host_count)]
    for i in range(count):
        Container.objects.create(
            host=hosts[i % host_count],
            container_id=f"{i:064x}",
            name=f"app-{i}",
            image="demo/web:v1" if i % 2 else "demo/sleeper:v1",
            state="running" if i % 3 else "exited",
            labels={"team": "ops" if i % 2 else "dev", "tier": "web"},
        )
    return hosts


def _names(client, **query):
    response = client.get(reverse("container-list"), query)
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


@pytest.fixture
def fleet_rows():
    hosts = _make(0)
    rows = [
        ("web-1", hosts[0], "198.18.0.1:5000/demo/web:v1", "running", "healthy", {"app": "web"}),
        ("web-2", hosts[1], "198.18.0.1:5000/demo/web:v2", "exited", "", {"app": "web", "x": ""}),
        ("db", hosts[1], "postgres:16", "running", "unhealthy", {"app": "db"}),
        ("job", hosts[2], "demo/sleeper:v1", "created", "starting", {}),
    ]
    for i, (name, host, image, state, health, labels) in enumerate(rows):
        Container.objects.create(
            host=host, container_id=f"{i:064x}", name=name, image=image, state=state,
            health=health, labels=labels,
        )  # fmt: skip
    return hosts


def test_list_query_count_does_not_grow_with_the_number_of_containers(
    admin_client, django_assert_max_num_queries
):
    _make(3)
    with django_assert_max_num_queries(10) as few:
        assert admin_client.get(reverse("container-list")).status_code == 200
    Container.objects.all().delete()
    Host.objects.all().delete()
    _make(30)
    with django_assert_max_num_queries(10) as many:
        response = admin_client.get(reverse("container-list"))
    assert response.json()["count"] == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_host_container_list_query_count_does_not_grow(admin_client, django_assert_max_num_queries):
    hosts = _make(3, host_count=1)
    url = reverse("host-containers", args=[hosts[0].pk])
    with django_assert_max_num_queries(10) as few:
        admin_client.get(url)
    for i in range(3, 30):
        Container.objects.create(host=hosts[0], container_id=f"{i:064x}", name=f"n{i}", state="x")
    with django_assert_max_num_queries(10) as many:
        assert admin_client.get(url).json()["count"] == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_list_rows_name_their_host(admin_client, fleet_rows):
    row = admin_client.get(reverse("container-list"), {"name": "db"}).json()["results"][0]
    assert row["host"] == fleet_rows[1].pk
    assert row["host_name"] == "host-1"
    assert row["url"].endswith(reverse("container-detail", args=[row["id"]]))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"host_name": "host-1"}, ["db", "web-2"]),
        ({"name": "WEB"}, ["web-1", "web-2"]),
        ({"image": "demo/web"}, ["web-1", "web-2"]),
        ({"state": "running"}, ["db", "web-1"]),
        ({"state": ["exited", "created"]}, ["job", "web-2"]),
        ({"health": "none"}, ["web-2"]),
        ({"health": ["healthy", "starting"]}, ["job", "web-1"]),
        ({"label": "app=web"}, ["web-1", "web-2"]),
        ({"label": "app"}, ["db", "web-1", "web-2"]),
        ({"label": ["app=web", "x"]}, ["web-2"]),
        ({"label": "x="}, ["web-2"]),
        ({"label": "app=nothing"}, []),
        ({"q": "postgres"}, ["db"]),
        ({"q": "job"}, ["job"]),
    ],
)
def test_filters(admin_client, fleet_rows, query, expected):
    assert _names(admin_client, **query) == expected


def test_filter_by_host_id(admin_client, fleet_rows):
    assert _names(admin_client, host=fleet_rows[2].pk) == ["job"]


def test_ordering(admin_client, fleet_rows):
    response = admin_client.get(reverse("container-list"), {"ordering": "-name"})
    assert [row["name"] for row in response.json()["results"]] == ["web-2", "web-1", "job", "db"]


@pytest.mark.parametrize(
    ("query", "field"), [({"state": "sleeping"}, "state"), ({"label": "=x"}, "label")]
)
def test_bad_filter_value_is_a_400(admin_client, fleet_rows, query, field):
    response = admin_client.get(reverse("container-list"), query)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_list_is_paginated(admin_client):
    _make(5)
    body = admin_client.get(reverse("container-list"), {"limit": 2}).json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"]
