"""The fleet page and the fleet-wide lists make as many SQL queries for 60 hosts as for
3: no N+1 can creep in as the fleet grows (and the page is paginated)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hosts.models import Host, HostGroup
from tests.unit.frontend_fixtures import make_host

pytestmark = pytest.mark.django_db

PAGES = ["frontend:dashboard", "frontend:containers", "frontend:images", "frontend:operations"]


def _fleet(count: int) -> None:
    group = HostGroup.objects.get_or_create(name="edge")[0]
    for index in range(Host.objects.count(), count):
        host = make_host(f"node-{index:03d}", containers=3)
        host.groups.add(group)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("page", PAGES)
def test_queries_do_not_grow_with_the_number_of_hosts(
    viewer_client, django_assert_max_num_queries, page
):
    url = reverse(page)
    _fleet(3)
    with_three = _queries(viewer_client, url)
    _fleet(60)
    with django_assert_max_num_queries(with_three):
        response = viewer_client.get(url)
    assert response.status_code == 200
    assert with_three <= 12


def test_fleet_page_is_paginated(viewer_client):
    _fleet(60)
    page = viewer_client.get(reverse("frontend:dashboard")).text
    assert page.count('class="host"') == 50
    assert "Page 1 of 2" in page
    second = viewer_client.get(reverse("frontend:dashboard") + "?page=2").text
    assert second.count('class="host"') == 10
    assert 'data-testid="hosts-total">60<' in second
