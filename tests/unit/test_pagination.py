"""Every list pages by ?limit= and ?offset=; a malformed value is a 400 naming it (DRF
alone would quietly serve the first page instead)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.models import HostGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups() -> list[HostGroup]:
    return [HostGroup.objects.create(name=f"g{n}") for n in range(5)]


def test_limit_and_offset_page_through_a_list(admin_client, groups):
    body = admin_client.get(reverse("hostgroup-list"), {"limit": 2, "offset": 2}).json()
    assert body["count"] == 5
    assert [group["name"] for group in body["results"]] == ["g2", "g3"]
    assert "offset=4" in body["next"]


def test_a_limit_over_1000_is_capped(admin_client, groups):
    response = admin_client.get(reverse("hostgroup-list"), {"limit": 5000})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 5


@pytest.mark.parametrize(
    "query",
    ["offset=null", "offset=-1", "offset=1.5", "limit=abc", "limit=0", "limit=-5",
     "offset=1&offset=2", "offset=%EF%BC%91"],
)  # fmt: skip
def test_a_malformed_limit_or_offset_is_a_400_naming_it(admin_client, groups, query):
    response = admin_client.get(f"{reverse('hostgroup-list')}?{query}")
    assert response.status_code == 400, response.content
    name = query.split("=")[0]
    assert list(response.json()["errors"]) == [name]
