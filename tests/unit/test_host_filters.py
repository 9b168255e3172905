"""Hosts can be found by group, label, status and name."""

import pytest
from django.urls import reverse

from hosts.models import Host, HostGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts():
    web = HostGroup.objects.create(name="web")
    a = Host.objects.create(name="web-1", transport="local", labels={"env": "prod", "tier": "web"})
    b = Host.objects.create(name="web-2", transport="local", labels={"env": "staging"})
    c = Host.objects.create(name="db-1", transport="local", labels={"env": "prod"}, status="online")
    a.groups.add(web)
    b.groups.add(web)
    return a, b, c


def _names(client, **params):
    response = client.get(reverse("host-list"), params)
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_hosts_are_filtered_by_group_label_status_and_search(admin_client, hosts):
    assert _names(admin_client, group="web") == ["web-1", "web-2"]
    assert _names(admin_client, label="env=prod") == ["db-1", "web-1"]
    assert _names(admin_client, label="env=prod,tier") == ["web-1"]
    assert _names(admin_client, status="online") == ["db-1"]
    assert _names(admin_client, q="db") == ["db-1"]


def test_a_malformed_label_selector_is_a_400_not_a_500(admin_client, hosts):
    response = admin_client.get(reverse("host-list"), {"label": "env__x=1"})
    assert response.status_code == 400
    assert "label" in response.json()["errors"]


def test_host_groups_and_labels_are_set_at_registration(admin_client):
    HostGroup.objects.create(name="edge")
    response = admin_client.post(
        reverse("host-list"),
        {"name": "edge-1", "transport": "local", "groups": ["edge"], "labels": {"site": "ams"}},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["groups"] == ["edge"]
    assert Host.objects.get(name="edge-1").labels == {"site": "ams"}


def test_labels_must_be_text_values(admin_client):
    response = admin_client.post(
        reverse("host-list"),
        {"name": "edge-2", "transport": "local", "labels": {"site": 3}},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "labels" in response.json()["errors"]
