"""Pruning a host's images removes the dangling ones and reports them (on h3:
other engineers work on h1 and h2 at the same time)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.models import Image
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_prune_removes_a_dangling_image_and_reports_it(register, admin_client, fleet):
    h3 = fleet["h3"]
    host = register(h3)
    base = f"{fleet.registry}/demo/web:v1"
    h3.docker("pull", base)
    suffix = uuid.uuid4().hex[:8]
    tag, container = f"berth-it/prune-{suffix}:1", f"it-prune-{suffix}"
    h3.docker("create", "--name", container, base)
    try:
        # Commit twice under one tag: the first image loses its tag and dangles.
        h3.docker("commit", "--change", "LABEL berth.step=1", container, tag)
        dangling = h3.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        h3.docker("commit", "--change", "LABEL berth.step=2", container, tag)
        kept = h3.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        assert dangling != kept
        wait_for(
            lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
            what="h3 to come online",
        )

        response = admin_client.post(
            reverse("host-image-prune", args=[host.pk]), {}, content_type="application/json"
        )
        assert response.status_code == 202, response.content
        url = response.json()["operation_url"]
        operation = wait_for(
            lambda: (
                (body := admin_client.get(url).json())["status"] != "pending"
                and body["status"] != "running"
                and body
            ),
            timeout=60,
            interval=0.3,
            what="the prune to finish",
        )

        assert operation["status"] == "succeeded", operation["error"]
        assert dangling in operation["result"]["deleted"]
        assert operation["result"]["space_reclaimed"] >= 0
        ids = h3.docker("images", "-a", "-q", "--no-trunc").stdout.split()
        assert dangling not in ids
        assert kept in ids  # tagged images stay (all=false)
        assert not Image.objects.filter(host=host, image_id=dangling).exists()
        assert Image.objects.filter(host=host, image_id=kept).exists()
    finally:
        h3.docker("rm", "-f", container, check=False)
        h3.docker("rmi", "-f", tag, check=False)
