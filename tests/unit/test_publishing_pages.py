"""The pages to publish images: an operator sees the Tag and Push forms of a host's
image and the Commit form of a container, a viewer sees neither; what the checks
refuse is said beside the form and queues nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from operations.models import Operation

pytestmark = pytest.mark.django_db


def test_an_operator_gets_the_tag_push_and_commit_forms(operator_client, seeded):
    publish = operator_client.get(reverse("frontend:image-publish", args=[seeded["image"].pk]))
    container = operator_client.get(reverse("frontend:container", args=[seeded["container"].pk]))
    build = operator_client.get(reverse("frontend:image-build"))

    assert publish.status_code == 200
    assert 'data-action="tag"' in publish.text and 'data-action="push"' in publish.text
    assert 'data-action="commit"' in container.text
    assert build.status_code == 200 and 'enctype="multipart/form-data"' in build.text


def test_a_viewer_sees_the_image_but_no_form(viewer_client, seeded):
    publish = viewer_client.get(reverse("frontend:image-publish", args=[seeded["image"].pk]))
    container = viewer_client.get(reverse("frontend:container", args=[seeded["container"].pk]))

    assert publish.status_code == 200 and str(seeded["image"]) in publish.text
    assert 'data-action="push"' not in publish.text
    assert 'data-action="commit"' not in container.text


def test_refused_input_is_said_and_nothing_is_queued(operator_client, seeded):
    before = Operation.objects.count()

    push = operator_client.post(
        reverse("frontend:image-push", args=[seeded["image"].pk]),
        {"reference": "Bad/Name:1"},
        HTTP_HX_REQUEST="true",
    )
    commit = operator_client.post(
        reverse("frontend:container-commit", args=[seeded["container"].pk]),
        {"repository": "demo/x", "tag": "1", "changes": "RUN id"},
        HTTP_HX_REQUEST="true",
    )
    build = operator_client.post(
        reverse("frontend:image-build"),
        {"host": seeded["hosts"][0].pk, "git_url": "file:///etc", "build_args": "NOEQUALS"},
    )

    assert "repository name" in push.text
    assert "changes:" in commit.text and "CMD" in commit.text
    assert build.status_code == 400 and "KEY=VALUE" in build.text
    assert Operation.objects.count() == before
