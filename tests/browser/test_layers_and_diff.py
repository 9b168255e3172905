"""An image's page and a container's writable layer, in the browser: from the images list
an operator opens a demo image on a host, reads its layers and sees its layer marked
shared with an image committed from it (a link to that image's page), without reloading;
on a container's page "Read changes" lists the file the test created in it as added; a
viewer sees the stored layers and no buttons."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from containers.models import Container
from hosts.services import request_refresh
from images.models import Image
from tests.browser.helpers import WORK_MS, online, unique
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(host, what, find):  # type: ignore[no-untyped-def]
    def found():  # type: ignore[no-untyped-def]
        row = find()
        if row is None:
            request_refresh(host, actor=None)
        return row

    return wait_for(found, timeout=60, interval=2, what=f"Berth to list {what}")


def test_an_image_page_shows_a_layer_shared_with_an_image_built_on_it(open_page, register, fleet):
    h2 = fleet["h2"]
    host = online(register(fleet["h2"]))
    sleeper = f"{fleet.registry}/demo/sleeper:v1"
    container, derived = unique("ui-layers"), f"berth-ui/{unique('derived')}:v1"
    h2.docker("run", "-d", "--name", container, sleeper)
    try:
        h2.docker("exec", container, "sh", "-c", "echo drift > /tmp/drift")
        h2.docker("commit", container, derived)

        def image(tag):  # type: ignore[no-untyped-def]
            return lambda: next((i for i in Image.objects.filter(host=host) if tag in i.tags), None)

        base = _stored(host, sleeper, image(sleeper))
        built = _stored(host, derived, image(derived))

        page = open_page("admin")
        page.goto("/images/?q=sleeper")
        page.locator(f'a[href="/images/{base.pk}/"]').first.click()
        expect(page.get_by_role("heading", name=str(base))).to_be_visible()
        layers = page.get_by_test_id("layers")
        expect(layers).to_contain_text("Not read yet")
        page.evaluate("window.__notReloaded = true")

        page.locator('[data-action="layers"]').click()
        expect(page.get_by_test_id("op-feedback").first).to_contain_text("Reading the layers")
        expect(page.get_by_test_id("layers-result").first).to_contain_text(
            "1 layer, 1 shared", timeout=WORK_MS
        )
        row = layers.locator("tr[data-layer]")
        expect(row).to_have_count(1, timeout=WORK_MS)  # the live section shows what was read
        expect(row).to_contain_text("Imported from -")
        link = row.get_by_test_id("shared-with").locator(f'a[href="/images/{built.pk}/"]')
        expect(link).to_have_text(derived)
        assert page.evaluate("window.__notReloaded") is True

        viewer = open_page("viewer")
        viewer.goto(f"/images/{base.pk}/")
        expect(
            viewer.get_by_test_id("layers").locator(f'a[href="/images/{built.pk}/"]')
        ).to_be_visible()
        expect(viewer.locator('[data-action="layers"]')).to_have_count(0)

        link.click()  # the derived image: its base layer shared back, its own layer not read
        expect(page.get_by_role("heading", name=derived)).to_be_visible()
    finally:
        h2.docker("rm", "-f", container, check=False)
        h2.docker("rmi", "-f", derived, check=False)


def test_a_containers_page_lists_the_file_it_created_as_added(open_page, register, fleet):
    h1 = fleet["h1"]
    host = online(register(h1))
    name = unique("ui-diff")
    h1.docker("run", "-d", "--name", name, f"{fleet.registry}/demo/sleeper:v1")
    try:
        h1.docker("exec", name, "sh", "-c", "echo drift > /tmp/made-in-the-browser-test")
        container = _stored(
            host, name, lambda: Container.objects.filter(host=host, name=name).first()
        )
        page = open_page("admin")
        page.goto(f"/containers/{container.pk}/")
        page.locator('[data-action="diff"]').click()
        layer = page.locator("#writable-layer").get_by_test_id("writable-layer")
        expect(layer).to_be_visible(timeout=WORK_MS)
        added = layer.locator('tr[data-path="/tmp/made-in-the-browser-test"]')
        expect(added).to_have_attribute("data-kind", "added")
        expect(added).to_contain_text("A")
        expect(layer.locator('tr[data-path="/tmp"]')).to_have_attribute("data-kind", "changed")
        expect(layer).to_contain_text("1 added, 1 changed, 0 deleted")

        viewer = open_page("viewer")
        viewer.goto(f"/containers/{container.pk}/")
        expect(viewer.locator("#writable-layer")).to_contain_text("needs the operator role")
    finally:
        h1.docker("rm", "-f", name, check=False)
