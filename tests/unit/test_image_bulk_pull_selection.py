"""A bulk pull's body is checked field by field: an unknown field is a 400 naming it
(never dropped while the pull goes ahead), and the 202 says how many hosts matched."""

import pytest
from django.urls import reverse

from hosts.models import Host
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts():
    return [
        Host.objects.create(
            name=f"web-{index}",
            address=f"198.18.99.{index}",
            host_key=EXAMPLE_HOST_KEY,
            labels={"role": "web" if index < 3 else "db"},
        )
        for index in (1, 2, 3)
    ]


def _pull(client, body):
    return client.post(reverse("image-pull"), body, content_type="application/json")


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"colour": "blue"}, "colour"), ({"host": 1}, "host"), ({"labels": "role=db"}, "labels")],
)
def test_unknown_field_is_a_400_naming_it(admin_client, hosts, extra, field):
    response = _pull(admin_client, {"ref": "demo/web:v2", "hosts": [hosts[0].pk], **extra})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Operation.objects.exists()


def test_answer_says_how_many_hosts_a_label_matched(admin_client, hosts):
    response = _pull(admin_client, {"ref": "demo/web:v2", "host_label": "role=web"})
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 2
    assert Operation.objects.filter(action="image.pull").count() == 2


def test_answer_says_how_many_listed_hosts_matched(admin_client, hosts):
    ids = [hosts[0].pk, hosts[0].pk, hosts[2].pk]  # a repeated id counts once
    response = _pull(admin_client, {"ref": "demo/web:v2", "hosts": ids})
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 2
