"""A bulk pull's body is checked field by field: an unknown field is a 400 naming it
(never dropped while the pull goes ahead), and the 202 says how many hosts matched."""

import pytest
from django.urls import reverse

from access.roles import Role
from hosts.models import Host
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY
from tests.unit.roles_support import logged_in, make_site, make_user

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


def test_a_label_selects_the_hosts_in_a_scoped_callers_groups():
    """A scoped operator's host_label pull acts on the labelled hosts they can use; it
    used to match the whole fleet first and answer 400 for the hosts out of scope."""
    a, b = make_site("a"), make_site("b")
    for site in (a, b):
        site.host.labels = {"role": "web"}
        site.host.save(update_fields=["labels"])
    client = logged_in(make_user("ops-a", Role.OPERATOR, [a.group]))
    response = _pull(client, {"ref": "demo/web:v2", "host_label": "role=web"})
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 1
    pulls = Operation.objects.filter(action="image.pull")
    assert list(pulls.values_list("host", flat=True)) == [a.host.pk]
    # A label only hosts out of scope carry matches nothing they can see.
    b.host.labels = {"role": "db"}
    b.host.save(update_fields=["labels"])
    response = _pull(client, {"ref": "demo/web:v2", "host_label": "role=db"})
    assert response.status_code == 400, response.content
    assert "host_label" in response.json()["errors"]
    assert pulls.count() == 1
    # Listing an out-of-scope host by id is still refused.
    response = _pull(client, {"ref": "demo/web:v2", "hosts": [a.host.pk, b.host.pk]})
    assert response.status_code == 400, response.content
    assert pulls.count() == 1
