"""berth.labels: one label-selector grammar, with readable errors, turned into SQL that
reads every key as a label name (never as an ORM lookup or a list index)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from berth.labels import LabelRequirement, LabelSelector, LabelSelectorError
from hosts.models import Host


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tier=web", [("tier", "web")]),
        ("tier", [("tier", None)]),
        ("tier=web,env", [("tier", "web"), ("env", None)]),
        ("url=a=b", [("url", "a=b")]),  # the value is everything after the first "="
        ("x=", [("x", "")]),  # an empty value is a value
        ("com.docker.compose.project=shop", [("com.docker.compose.project", "shop")]),
        ("example.org/team=ops", [("example.org/team", "ops")]),
    ],
)
def test_text_is_parsed_into_requirements(text, expected):
    selector = LabelSelector.parse(text)
    assert selector.requirements == tuple(LabelRequirement(k, v) for k, v in expected)
    assert str(selector) == text


def test_a_list_gives_one_requirement_per_item_so_a_value_may_hold_a_comma():
    selector = LabelSelector.parse(["mirrors=a,b", "tier"])
    assert selector.requirements == (LabelRequirement("mirrors", "a,b"), LabelRequirement("tier"))


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "Give a label selector: write key=value or key"),
        ([], "Give a label selector"),
        ("=web", "A label selector needs a key"),
        ("tier=web,,env", "A label selector needs a key"),
        ("tier=web,", "A label selector needs a key"),
        ("a__b=1", "'a__b' is not a label key"),
        (" tier=web", "' tier' is not a label key"),
        ("ti er", "'ti er' is not a label key"),
        ("-tier=web", "'-tier' is not a label key"),
        ("tier\n=web", "is not a label key"),  # "$" would have let the newline through
        ("7=seven", "'7': a label key made only of digits cannot be selected"),
        ("k" * 257, "a label key is at most 256 characters"),
        ("tier=we\x00b", "a label value cannot hold a NUL character"),
    ],
)
def test_a_malformed_selector_says_what_is_wrong(selector, message):
    with pytest.raises(LabelSelectorError) as raised:
        LabelSelector.parse(selector)
    assert message in raised.value.message
    assert str(raised.value) == raised.value.message
    assert isinstance(raised.value, ValueError)  # callers that catch ValueError still do


@pytest.fixture
def hosts(db):
    for name, labels in [
        ("plain", {"tier": "web", "env": "prod"}),
        ("lookups", {"regex": "x", "contains": "web", "isnull": "False"}),
        ("dotted", {"com.docker.compose.project": "shop", "example.org/team": "ops"}),
        ("equals", {"url": "a=b", "empty": ""}),
        ("bare", {}),
    ]:
        Host.objects.create(name=name, transport="local", labels=labels)


def _names(selector: str) -> list[str]:
    chosen = Host.objects.filter(LabelSelector.parse(selector).q("labels"))
    return sorted(chosen.values_list("name", flat=True))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["plain"]),
        ("tier=web,env=prod", ["plain"]),
        ("tier=web,env=staging", []),
        ("tier", ["plain"]),
        # Lookup names are label keys: as lookups, "regex=." and "contains=web" would
        # have matched the JSON text of several hosts.
        ("regex=x", ["lookups"]),
        ("regex=.", []),
        ("regex", ["lookups"]),
        ("contains=web", ["lookups"]),
        ("isnull=False", ["lookups"]),
        ("isnull", ["lookups"]),
        # Dots and slashes are part of the key, not a path into nested objects.
        ("com.docker.compose.project=shop", ["dotted"]),
        ("com.docker.compose.project", ["dotted"]),
        ("com=shop", []),
        ("example.org/team=ops", ["dotted"]),
        ("url=a=b", ["equals"]),
        ("url=a", []),
        ("empty=", ["equals"]),
        ("empty", ["equals"]),
        ("missing=", []),
    ],
)
def test_the_condition_reads_each_key_as_a_label(hosts, selector, expected):
    assert _names(selector) == expected


def test_the_fleet_page_says_why_a_selector_was_not_applied(admin_client, hosts):
    page = admin_client.get(reverse("frontend:dashboard"), {"label": "a__b=1"}).text
    assert "Filter not applied" in page
    assert "is not a label key" in page


def test_a_nul_in_a_value_is_a_400_not_a_database_error(admin_client, hosts):
    """PostgreSQL refuses text holding NUL: the selector is refused before the query."""
    response = admin_client.get(reverse("host-list"), {"label": "tier=we\x00b"})
    assert response.status_code == 400, response.content
    assert "NUL" in response.json()["errors"]["label"][0]
    response = admin_client.get(reverse("container-list"), {"label": "tier=we\x00b"})
    assert response.status_code == 400, response.content
    assert "NUL" in response.json()["errors"]["label"][0]
