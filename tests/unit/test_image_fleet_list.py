"""The fleet-wide image list shows each image once, with every host that has it,
in a fixed number of queries however many images and hosts there are."""

import pytest
from django.urls import reverse

from hosts.models import Host
from images.models import Image
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db


def _image_id(n):
    return f"sha256:{n:064x}"


def _fleet(hosts, images):
    created = [
        Host.objects.create(
            name=f"h{i:03}", address=f"198.18.99.{i + 1}", host_key=EXAMPLE_HOST_KEY
        )
        for i in range(hosts)
    ]
    Image.objects.bulk_create(
        Image(
            host=host,
            image_id=_image_id(n),
            tags=[f"198.18.0.1:5000/app{n}:v1"],
            digests=[f"198.18.0.1:5000/app{n}@sha256:{n:064x}"],
            size=1000 + n,
        )
        for host in created
        for n in range(images)
    )
    return created


def test_same_image_on_several_hosts_is_one_row_with_its_hosts(admin_client):
    h1, h2, h3 = _fleet(3, 0)
    shared_on_h1 = Image.objects.create(
        host=h1, image_id=_image_id(1), tags=["web:v2"], digests=["web@sha256:1"], size=10
    )
    shared_on_h2 = Image.objects.create(
        host=h2, image_id=_image_id(1), tags=["web:v2", "web:latest"], digests=[], size=10
    )
    Image.objects.create(host=h3, image_id=_image_id(2), tags=["db:16"], size=20)

    body = admin_client.get(reverse("image-list")).json()
    assert body["count"] == 2
    shared = next(row for row in body["results"] if row["id"] == _image_id(1))
    assert shared["tags"] == ["web:latest", "web:v2"]
    assert shared["digests"] == ["web@sha256:1"]
    assert shared["size"] == 10
    assert shared["hosts"] == [
        {"host": h1.pk, "host_name": "h000", "image": shared_on_h1.pk},
        {"host": h2.pk, "host_name": "h001", "image": shared_on_h2.pk},
    ]


def test_filters_choose_images_by_tag_and_host(admin_client):
    h1, h2 = _fleet(2, 0)
    Image.objects.create(host=h1, image_id=_image_id(1), tags=["198.18.0.1:5000/demo/web:v2"])
    Image.objects.create(host=h2, image_id=_image_id(1), tags=["198.18.0.1:5000/demo/web:v2"])
    Image.objects.create(host=h2, image_id=_image_id(2), tags=["redis:7"])

    def ids(**query):
        response = admin_client.get(reverse("image-list"), query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(tag="DEMO/WEB") == [_image_id(1)]
    assert ids(host=h1.pk) == [_image_id(1)]
    assert sorted(ids(host=h2.pk)) == [_image_id(1), _image_id(2)]
    assert ids(host=h1.pk, tag="redis") == []
    # an image chosen by host still shows every host it is on
    row = admin_client.get(reverse("image-list"), {"host": h1.pk}).json()["results"][0]
    assert [presence["host_name"] for presence in row["hosts"]] == ["h000", "h001"]
    response = admin_client.get(reverse("image-list"), {"host": 999999})
    assert response.status_code == 400
    assert "host" in response.json()["errors"]


def test_list_is_paginated_by_image_not_by_host_row(admin_client):
    _fleet(3, 5)
    body = admin_client.get(reverse("image-list"), {"limit": 2}).json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert all(len(row["hosts"]) == 3 for row in body["results"])
    rest = admin_client.get(reverse("image-list"), {"limit": 2, "offset": 2}).json()["results"]
    assert not {row["id"] for row in rest} & {row["id"] for row in body["results"]}


@pytest.mark.parametrize(("hosts", "images"), [(2, 3), (6, 40)])
def test_fleet_list_query_count_does_not_grow(
    admin_client, django_assert_max_num_queries, hosts, images
):
    _fleet(hosts, images)
    admin_client.get(reverse("image-list"))  # warm the session
    with django_assert_max_num_queries(5):
        response = admin_client.get(reverse("image-list"), {"tag": "app"})
    assert response.status_code == 200
    assert response.json()["count"] == images
    assert all(len(row["hosts"]) == hosts for row in response.json()["results"])


@pytest.mark.parametrize(("hosts", "images"), [(2, 3), (6, 40)])
def test_host_image_list_query_count_does_not_grow(
    admin_client, django_assert_max_num_queries, hosts, images
):
    _fleet(hosts, images)
    admin_client.get(reverse("host-image-list"))
    with django_assert_max_num_queries(5):
        response = admin_client.get(reverse("host-image-list"))
    assert response.json()["count"] == hosts * images
