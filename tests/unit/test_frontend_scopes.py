"""A user limited to host group A sees only A on every page, and cannot reach B's
hosts, containers, images, services or operations by URL or through a form."""

import pytest
from django.urls import reverse

from access.roles import Role
from tests.unit.roles_support import logged_in, make_site, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites():
    return make_site("alpha"), make_site("bravo")


def test_lists_show_only_the_users_host_groups(sites):
    a, b = sites
    client = logged_in(make_user("ann", Role.OPERATOR, [a.group]))
    pages = {
        "frontend:dashboard": (a.host.name, b.host.name),
        "frontend:containers": (a.container.name, b.container.name),
        "frontend:services": (a.service.name, b.service.name),
        "frontend:operations": ("host-alpha", "host-bravo"),
    }
    for url_name, (mine, theirs) in pages.items():
        page = client.get(reverse(url_name)).content.decode()
        assert mine in page, url_name
        assert theirs not in page, url_name


def test_other_groups_objects_are_not_found_by_url(sites):
    a, b = sites
    client = logged_in(make_user("ann", Role.OPERATOR, [a.group]))
    assert client.get(reverse("frontend:host", args=[a.host.pk])).status_code == 200
    assert client.get(reverse("frontend:host", args=[b.host.pk])).status_code == 404
    assert client.get(reverse("frontend:container", args=[b.container.pk])).status_code == 404
    assert client.get(reverse("frontend:service", args=[b.service.pk])).status_code == 404
    assert client.get(reverse("frontend:operation", args=[b.operation.pk])).status_code == 404


def test_forms_offer_and_accept_only_hosts_in_scope(sites):
    a, b = sites
    client = logged_in(make_user("ann", Role.OPERATOR, [a.group]))
    page = client.get(reverse("frontend:images")).content.decode()
    assert a.host.name in page
    assert b.host.name not in page
    response = client.post(
        reverse("frontend:image-pull"),
        {"ref": "198.18.0.1:5000/demo/web:v1", "hosts": [b.host.pk]},
    )
    assert response.status_code in {200, 302}
    from operations.models import Operation

    assert not Operation.objects.filter(action__contains="image.pull").exists()


def test_an_unscoped_user_sees_everything(sites):
    a, b = sites
    client = logged_in(make_user("root", Role.VIEWER))
    page = client.get(reverse("frontend:dashboard")).content.decode()
    assert a.host.name in page and b.host.name in page
