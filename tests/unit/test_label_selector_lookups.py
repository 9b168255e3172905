"""A label selector names a label, never an ORM lookup: keys such as ``regex``,
``contains`` or ``isnull`` are label names like any other, so a selector cannot turn
into a query on the whole JSON document."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.models import Host

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts():
    Host.objects.create(name="web-1", transport="local", labels={"tier": "web"})
    Host.objects.create(name="odd-1", transport="local", labels={"regex": "x", "7": "seven"})


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("regex=.", []),  # as a lookup this matched every host: regex '.' on the JSON text
        ("regex=x", ["odd-1"]),
        ("contains=web", []),
        ("icontains=WEB", []),
        ("startswith={", []),
        ("isnull=False", []),
        ("tier=web", ["web-1"]),
        ("regex", ["odd-1"]),
    ],
)
def test_a_selector_key_is_a_label_name_not_a_lookup(admin_client, hosts, selector, expected):
    response = admin_client.get(reverse("host-list"), {"label": selector})
    assert response.status_code == 200, response.content
    assert sorted(h["name"] for h in response.json()["results"]) == expected


def test_a_key_made_only_of_digits_is_refused_not_silently_unmatched(admin_client, hosts):
    response = admin_client.get(reverse("host-list"), {"label": "7=seven"})
    assert response.status_code == 400
    assert "digits" in response.json()["errors"]["label"][0]
