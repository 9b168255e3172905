"""Committing a container through the API on the real fleet: a file written in a
running container, committed with a message, an author and a change, pushed to the
test registry, pulled on another host by the pushed digest and seen there."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from operations.models import Operation
from tests.integration.container_support import (
    host_container,
    known_container,
    online_host,
    post,
)
from tests.integration.publish_support import finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def test_commit_push_and_run_the_committed_image_elsewhere(register, admin_client, fleet):
    h1, h2 = online_host(register, fleet["h1"]), online_host(register, fleet["h2"])
    repository = f"{fleet.registry}/test-commit-{uuid.uuid4().hex[:10]}"
    with host_container(fleet["h1"], fleet.registry) as name:
        fleet["h1"].docker("exec", name, "sh", "-c", "echo made-in-h1 > /committed.txt")
        container = known_container(h1, name)

        operation = finished(
            admin_client,
            post(
                admin_client,
                reverse("container-commit", args=[container.pk]),
                {
                    "repository": repository,
                    "tag": "c1",
                    "message": "with a file",
                    "author": "Berth Test <test@example.com>",
                    "changes": ["ENV MODE=committed"],
                    "push": True,
                },
            ),
        )

    assert operation["status"] == "succeeded", operation["error"]
    pushed = operation["result"]["pushed"]
    assert pushed.startswith(f"{repository}@sha256:")
    made = fleet["h1"].docker(
        "image", "inspect", f"{repository}:c1", "-f", "{{.Comment}}|{{.Author}}|{{.Config.Env}}"
    )
    comment, author, env = made.stdout.strip().split("|")
    assert (comment, author) == ("with a file", "Berth Test <test@example.com>")
    assert "MODE=committed" in env

    pull = post(admin_client, reverse("host-image-pull", args=[h2.pk]), {"ref": pushed})
    assert finished(admin_client, pull)["status"] == "succeeded"
    seen = fleet["h2"].docker("run", "--rm", pushed, "cat", "/committed.txt")
    assert seen.stdout.strip() == "made-in-h1"


def test_a_change_commit_does_not_allow_is_a_400_and_nothing_is_queued(
    register, admin_client, fleet
):
    h1 = online_host(register, fleet["h1"])
    with host_container(fleet["h1"], fleet.registry) as name:
        container = known_container(h1, name)
        before = Operation.objects.count()

        response = post(
            admin_client,
            reverse("container-commit", args=[container.pk]),
            {"repository": "demo/x", "changes": ["RUN rm -rf /"]},
        )

    assert response.status_code == 400
    assert "CMD" in response.json()["errors"]["changes"][0]
    assert Operation.objects.count() == before
