"""Every action of the pages checks the role on the server: a viewer's forged POST is
refused with 403 and records nothing; an operator may act on containers, images and
deployments but not on hosts; an admin may do everything."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db


def _operator_actions(seeded):
    container, service = seeded["container"], seeded["service"]
    return [
        (reverse("frontend:container-action", args=[container.pk, "stop"]), {}),
        (reverse("frontend:container-action", args=[container.pk, "start"]), {}),
        (reverse("frontend:container-action", args=[container.pk, "restart"]), {}),
        (reverse("frontend:container-action", args=[container.pk, "kill"]), {}),
        (reverse("frontend:container-action", args=[container.pk, "remove"]), {}),
        (reverse("frontend:container-logs", args=[container.pk]), {}),
        (reverse("frontend:container-stats", args=[container.pk]), {}),
        (reverse("frontend:containers-bulk"), {"verb": "stop", "container": [container.pk]}),
        (reverse("frontend:host-refresh", args=[seeded["hosts"][0].pk]), {}),
        (
            reverse("frontend:image-pull"),
            {"ref": "198.18.0.1:5000/demo/web:v1", "hosts": [seeded["hosts"][0].pk]},
        ),
        (reverse("frontend:image-remove", args=[seeded["image"].pk]), {}),
        (reverse("frontend:image-prune"), {"host": seeded["hosts"][0].pk}),
        (reverse("frontend:service-deploy", args=[service.pk]), {}),
        (reverse("frontend:service-rollback", args=[service.pk, 1]), {}),
        (
            reverse("frontend:image-build"),
            {"host": seeded["hosts"][0].pk, "git_url": "https://git.example.com/a.git"},
        ),
        (
            reverse("frontend:image-tag", args=[seeded["image"].pk]),
            {"repository": "demo/web", "tag": "t2"},
        ),
        (
            reverse("frontend:image-push", args=[seeded["image"].pk]),
            {"reference": "198.18.0.1:5000/demo/web:t2"},
        ),
        (
            reverse("frontend:container-commit", args=[container.pk]),
            {"repository": "demo/web", "tag": "c1"},
        ),
    ]


def _admin_actions(seeded):
    host = seeded["hosts"][0]
    return [
        (reverse("frontend:host-approve-key", args=[host.pk]), {}),
        (reverse("frontend:host-remove", args=[host.pk]), {}),
    ]


def test_a_viewers_forged_post_is_refused_and_queues_nothing(viewer_client, seeded):
    before = Operation.objects.count()
    for url, data in _operator_actions(seeded) + _admin_actions(seeded):
        response = viewer_client.post(url, data)
        assert response.status_code == 403, url
    forms = [
        reverse("frontend:service-create"),
        reverse("frontend:host-add"),
        reverse("frontend:image-build"),
    ]
    for url in forms:
        assert viewer_client.get(url).status_code == 403
        assert viewer_client.post(url, {"name": "x"}).status_code == 403
    assert Operation.objects.count() == before
    assert Host.objects.count() == 2


def test_anonymous_post_is_sent_to_log_in(client, seeded):
    for url, data in _operator_actions(seeded):
        response = client.post(url, data)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_operator_actions_record_an_operation_each(operator_client, seeded):
    for url, data in _operator_actions(seeded):
        before = Operation.objects.count()
        response = operator_client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, url
        if "rollback" in url:
            # the deploy just before is still in progress: refused, with the reason
            assert "still in progress" in response.text
            continue
        assert Operation.objects.count() > before, url
        shown = 'data-testid="op-feedback"' if "logs" not in url else 'data-testid="log"'
        assert shown in response.text, url


def test_operator_cannot_administer_hosts(operator_client, seeded):
    for url, data in _admin_actions(seeded):
        assert operator_client.post(url, data).status_code == 403, url
    assert operator_client.get(reverse("frontend:host-add")).status_code == 403
    host = seeded["hosts"][0]
    edit = reverse("frontend:host-edit", args=[host.pk])
    assert operator_client.get(edit).status_code == 403
    assert (
        operator_client.post(edit, {"name": "x", "address": "a", "port": "22"}).status_code == 403
    )
    host.refresh_from_db()
    assert host.name != "x"


def test_bulk_action_makes_one_operation_per_container(operator_client, seeded):
    containers = list(seeded["hosts"][0].containers.all()) + list(
        seeded["hosts"][1].containers.all()
    )
    response = operator_client.post(
        reverse("frontend:containers-bulk"),
        {"verb": "restart", "container": [c.pk for c in containers]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    parent = Operation.objects.get(action="bulk.container.restart")
    assert parent.children.count() == len(containers) == 3
    assert {child.action for child in parent.children.all()} == {"container.restart"}


def test_admin_removes_a_host_and_the_removal_is_recorded(admin_client, seeded):
    host = seeded["hosts"][1]
    response = admin_client.post(reverse("frontend:host-remove", args=[host.pk]))
    assert response.status_code == 302
    assert not Host.objects.filter(pk=host.pk).exists()
    assert Operation.objects.filter(action="host.remove", target_name=host.name).exists()


def test_approving_without_an_offered_key_says_why(admin_client, seeded):
    host = seeded["hosts"][0]
    response = admin_client.post(
        reverse("frontend:host-approve-key", args=[host.pk]), HTTP_HX_REQUEST="true"
    )
    assert "has not offered a host key" in response.text
