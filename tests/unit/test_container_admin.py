"""The container admin lists rows read-only and queues actions as operations."""

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db


def test_changelist_shows_containers_and_stop_action_queues_operations(admin_client):
    host = Host.objects.create(name="h", transport="local")
    row = Container.objects.create(host=host, container_id="a" * 64, name="web", state="running")
    url = reverse("admin:containers_container_changelist")
    assert b"web" in admin_client.get(url).content

    response = admin_client.post(
        url, {"action": "stop_selected", "_selected_action": [row.pk]}, follow=True
    )

    assert response.status_code == 200
    operation = Operation.objects.get()
    assert operation.action == "container.stop"
    assert operation.params["container_id"] == "a" * 64
