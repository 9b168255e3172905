"""The Registries page in Chromium: a viewer goes from the stored registry to its demo
repository and reads each tag's row (loaded by htmx): the digest, and the host that
pulled the tag listed on that digest."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from images import services
from images.models import Image
from operations.choices import OperationStatus
from operations.models import Operation
from tests.browser.helpers import WORK_MS, online
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_viewer_browses_the_demo_tags_and_sees_the_host_on_a_digest(open_page, register, fleet):
    host = online(register(fleet["h1"]))
    ref = f"{fleet.registry}/demo/web:v1"
    operation = services.request_pull(host, services.prepare_pull(ref), actor=None)
    wait_for(
        lambda: Operation.objects.filter(
            pk=operation.pk, status=OperationStatus.SUCCEEDED
        ).exists(),
        timeout=120,
        what=f"the pull of {ref}",
    )
    digest = next(
        value.partition("@")[2]
        for image in Image.objects.filter(host=host)
        for value in image.digests
        if value.startswith(f"{fleet.registry}/demo/web@") and ref in image.tags
    )
    services.create_registry_credential(name="testbed", registry=fleet.registry, insecure=True)

    page = open_page("viewer")
    page.goto("/")
    page.get_by_role("link", name="Registries").first.click()
    page.get_by_role("link", name="testbed").click()
    page.get_by_role("link", name="demo/web").click()
    row = page.locator('tr[data-testid="registry-tag"][data-tag="v1"]')
    expect(row).to_be_visible(timeout=WORK_MS)
    expect(row.get_by_test_id("tag-digest")).to_contain_text(digest[:19])
    expect(row.get_by_test_id("tag-hosts-current")).to_contain_text(host.name)
    expect(row.get_by_test_id("tag-hosts-stale")).not_to_contain_text(host.name)
    for other in ("v2", "v3"):
        expect(page.locator(f'tr[data-testid="registry-tag"][data-tag="{other}"]')).to_be_visible()
