"""The fleet page is paginated, its totals count the whole fleet. (Its query count, like
every list's, is pinned in test_query_counts.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.models import Host, HostGroup
from tests.unit.frontend_fixtures import make_host

pytestmark = pytest.mark.django_db


def _fleet(count: int) -> None:
    group = HostGroup.objects.get_or_create(name="edge")[0]
    for index in range(Host.objects.count(), count):
        host = make_host(f"node-{index:03d}", containers=3)
        host.groups.add(group)


def test_fleet_page_is_paginated(viewer_client):
    _fleet(60)
    page = viewer_client.get(reverse("frontend:dashboard")).text
    assert page.count('class="host"') == 50
    assert "Page 1 of 2" in page
    second = viewer_client.get(reverse("frontend:dashboard") + "?page=2").text
    assert second.count('class="host"') == 10
    assert 'data-testid="hosts-total">60<' in second


def test_fleet_rows_count_each_hosts_containers(viewer_client):
    _fleet(2)
    page = viewer_client.get(reverse("frontend:dashboard")).text
    # make_host: three containers each, two running (one of them unhealthy), one exited
    assert page.count('title="running">▶ 2<') == 2
    assert page.count('title="stopped">■ 1<') == 2
    assert page.count('title="unhealthy">1 unhealthy<') == 2
    assert 'data-container="node-000-app-2"' in page
    assert 'class="chip state-dot tone-neutral" href="/containers/' in page
