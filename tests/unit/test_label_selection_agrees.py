"""The same label selector picks the same hosts wherever it is typed: the host list's
``?label=``, a bulk pull's ``host_label`` and the container list's ``?label=`` (on
containers carrying the same labels as their hosts), and all three refuse the same
malformed selectors with a 400 naming their field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.models import Host
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db

LABELS = {
    "web-1": {"tier": "web", "env": "prod", "com.docker.compose.project": "shop"},
    "web-2": {"tier": "web", "env": "staging", "url": "a=b"},
    "db-1": {"tier": "db", "regex": "x", "empty": ""},
    "bare-1": {},
}


@pytest.fixture
def fleet():
    for index, (name, labels) in enumerate(LABELS.items(), start=1):
        host = Host.objects.create(
            name=name, address=f"198.18.99.{index}", host_key=EXAMPLE_HOST_KEY, labels=labels
        )
        Container.objects.create(
            host=host,
            container_id=f"{index}" * 64,
            name=f"{name}-app",
            image="demo/web:v1",
            state="running",
            labels=labels,
        )


def _by_host_filter(client, selector: str) -> tuple[int, list[str]]:
    response = client.get(reverse("host-list"), {"label": selector})
    if response.status_code != 200:
        return response.status_code, list(response.json()["errors"])
    return 200, sorted(row["name"] for row in response.json()["results"])


def _by_container_filter(client, selector: str) -> tuple[int, list[str]]:
    # The container list takes one requirement per parameter.
    response = client.get(reverse("container-list"), {"label": selector.split(",")})
    if response.status_code != 200:
        return response.status_code, list(response.json()["errors"])
    return 200, sorted({row["host_name"] for row in response.json()["results"]})


def _by_bulk_pull(client, selector: str) -> tuple[int, list[str]]:
    response = client.post(
        reverse("image-pull"),
        {"ref": "demo/web:v2", "host_label": selector},
        content_type="application/json",
    )
    if response.status_code == 400 and "No host has the label" in str(response.json()):
        return 200, []  # a pull must match a host; the other two list nothing
    if response.status_code != 202:
        return response.status_code, list(response.json()["errors"])
    parent = Operation.objects.get(pk=response.json()["operation"])
    return 200, sorted(parent.children.values_list("host__name", flat=True))


@pytest.mark.parametrize(
    ("selector", "hosts"),
    [
        ("tier=web", ["web-1", "web-2"]),
        ("tier=web,env=prod", ["web-1"]),
        ("tier", ["db-1", "web-1", "web-2"]),
        ("env,tier=web", ["web-1", "web-2"]),
        ("com.docker.compose.project=shop", ["web-1"]),
        ("url=a=b", ["web-2"]),
        ("regex=.", []),
        ("regex", ["db-1"]),
        ("empty=", ["db-1"]),
        ("tier=cache", []),
    ],
)
def test_a_selector_picks_the_same_hosts_everywhere(admin_client, fleet, selector, hosts):
    assert _by_host_filter(admin_client, selector) == (200, hosts)
    assert _by_container_filter(admin_client, selector) == (200, hosts)
    assert _by_bulk_pull(admin_client, selector) == (200, hosts)


@pytest.mark.parametrize("selector", ["=web", "a__b=1", "7=seven", "ti er=web", "tier=web,"])
def test_a_malformed_selector_is_refused_everywhere(admin_client, fleet, selector):
    assert _by_host_filter(admin_client, selector) == (400, ["label"])
    assert _by_container_filter(admin_client, selector) == (400, ["label"])
    assert _by_bulk_pull(admin_client, selector) == (400, ["host_label"])
    assert not Operation.objects.exists()
