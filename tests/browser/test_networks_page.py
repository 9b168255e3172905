"""The networks page: an operator creates a network with the form and its row appears
(htmx polling, no reload); a viewer sees the networks without the forms."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import WORK_MS, online, unique

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_a_network_from_the_page_and_see_its_row(open_page, register, fleet):
    host = online(register(fleet["h1"]))
    name = unique("ui-net")
    try:
        page = open_page("admin")
        page.goto("/networks/")
        page.evaluate("window.__notReloaded = true")
        form = page.locator("form[action='/networks/new/']")
        form.get_by_label("Host").select_option(label=host.name)
        form.get_by_label("Name").fill(name)
        form.get_by_label("Subnet").fill("10.199.77.0/24")
        form.get_by_role("button", name="Create").click()
        expect(page.get_by_test_id("op-feedback").first).to_contain_text(f"Creating network {name}")

        row = page.locator(f'tr[data-network="{name}"][data-host="{host.name}"]')
        expect(row).to_be_visible(timeout=WORK_MS)
        expect(row).to_contain_text("bridge")
        expect(row).to_contain_text("10.199.77.0/24")
        assert page.evaluate("window.__notReloaded") is True

        viewer = open_page("viewer")
        viewer.goto("/networks/")
        expect(viewer.locator(f'tr[data-network="{name}"]')).to_be_visible()
        expect(viewer.get_by_role("heading", name="Create a network")).to_have_count(0)
        expect(viewer.get_by_role("button", name="Remove")).to_have_count(0)
    finally:
        fleet["h1"].docker("network", "rm", name, check=False)
