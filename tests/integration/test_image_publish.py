"""Publishing images through the API on the real fleet: tag an image on a host, push it
to the test registry with per-layer progress, and pull it on another host by the digest
the push recorded; bad input is a 400 before anything is queued."""

from __future__ import annotations

import uuid

import pytest

from images.models import Image
from operations.models import Operation
from tests.integration.publish_support import finished, online, post, pulled_image, stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def test_tag_push_and_pull_the_pushed_digest_on_another_host(register, admin_client, fleet):
    h1, h3 = online(register(fleet["h1"])), online(register(fleet["h3"]))
    image = pulled_image(admin_client, h1, f"{fleet.registry}/demo/web:v1")
    repository = f"{fleet.registry}/test-publish-{uuid.uuid4().hex[:10]}"

    tagged = finished(
        admin_client,
        post(admin_client, "host-image-tag", [image.pk], {"repository": repository, "tag": "t1"}),
    )
    assert tagged["status"] == "succeeded", tagged["error"]
    assert f"{repository}:t1" in Image.objects.get(pk=image.pk).tags
    assert fleet["h1"].docker("images", "-q", f"{repository}:t1").stdout.strip()

    pushed = finished(
        admin_client,
        post(admin_client, "host-image-push", [image.pk], {"reference": f"{repository}:t2"}),
    )

    assert pushed["status"] == "succeeded", pushed["error"]
    digest = pushed["result"]["digest"]
    assert digest.startswith("sha256:") and pushed["result"]["pushed"] == f"{repository}@{digest}"
    layers = [item for item in stream(admin_client, pushed["id"]) if item.get("layer")]
    assert all(item["push"] == f"{repository}:t2" for item in layers)
    statuses = {item["status"] for item in layers}
    assert {"Pushed", "Layer already exists"} & statuses or any(
        status.startswith("Mounted from") for status in statuses
    )
    assert pushed["progress"]["layers_done"] == pushed["progress"]["layers_total"] >= 1
    # The image row now carries the pushed name and its digest.
    row = Image.objects.get(pk=image.pk)
    assert f"{repository}:t2" in row.tags and f"{repository}@{digest}" in row.digests

    again = pulled_image(admin_client, h3, f"{repository}@{digest}")
    assert again.image_id == image.image_id


def test_push_of_a_bad_reference_is_a_400_and_nothing_is_queued(register, admin_client, fleet):
    h1 = online(register(fleet["h1"]))
    image = pulled_image(admin_client, h1, f"{fleet.registry}/demo/web:v1")
    before = Operation.objects.count()

    bad_ref = post(admin_client, "host-image-push", [image.pk], {"reference": "Bad/Name:x"})
    by_digest = post(
        admin_client,
        "host-image-push",
        [image.pk],
        {"reference": f"{fleet.registry}/x@sha256:{'a' * 64}"},
    )
    bad_tag = post(
        admin_client, "host-image-tag", [image.pk], {"repository": "ok/name", "tag": "no spaces"}
    )

    assert (
        bad_ref.status_code == 400 and "repository name" in bad_ref.json()["errors"]["reference"][0]
    )
    assert by_digest.status_code == 400 and "digest" in by_digest.json()["errors"]["reference"][0]
    assert bad_tag.status_code == 400 and "repository" in bad_tag.json()["errors"]
    assert Operation.objects.count() == before


def test_push_to_an_unreachable_registry_fails_readably(register, admin_client, fleet):
    h1 = online(register(fleet["h1"]))
    image = pulled_image(admin_client, h1, f"{fleet.registry}/demo/web:v1")

    operation = finished(
        admin_client,
        post(admin_client, "host-image-push", [image.pk], {"reference": "198.18.0.1:5999/x/y:1"}),
    )

    assert operation["status"] == "failed"
    assert "push of 198.18.0.1:5999/x/y:1 failed" in operation["error"]
