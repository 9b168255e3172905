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


def test_the_schema_says_limit_starts_at_1_and_that_lists_answer_400():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["paths"]["/api/v1/host-groups/"]["get"]
    limits = {p["name"]: p["schema"].get("minimum") for p in listing["parameters"]}
    assert limits["limit"] == 1 and limits["offset"] == 0
    assert "400" in listing["responses"]


@pytest.mark.parametrize(
    ("url", "name"),
    [("operation-list", "created_before"), ("operation-list", "status"),
     ("container-list", "host"), ("host-list", "status")],
)  # fmt: skip
def test_an_empty_number_date_or_choice_filter_is_a_400_naming_it(admin_client, url, name):
    response = admin_client.get(f"{reverse(url)}?{name}=")
    assert response.status_code == 400, response.content
    assert name in response.json()["errors"]


def test_an_empty_text_filter_still_means_no_filter(admin_client, groups):
    response = admin_client.get(f"{reverse('host-list')}?q=")
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["0", "1", "yes", "on", ""])
def test_a_form_body_spells_a_boolean_true_or_false(admin_client, value):
    from hosts.models import Host

    host = Host.objects.create(name="h1", transport="local")
    response = admin_client.post(reverse("host-image-prune", args=[host.pk]), {"all": value})
    assert response.status_code == 400, response.content
    assert "all" in response.json()["errors"]


@pytest.mark.parametrize("value", ["null", "1", "yes", ""])
def test_a_boolean_filter_takes_true_or_false(admin_client, value):
    response = admin_client.get(f"{reverse('user-list')}?is_active={value}")
    assert response.status_code == 400, response.content
    assert "is_active" in response.json()["errors"]
    assert admin_client.get(f"{reverse('user-list')}?is_active=true").status_code == 200
