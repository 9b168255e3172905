"""The volumes page: an operator creates a volume with the form and its row appears (htmx
polling, no reload) as "not measured"; a prune's dry run lists it and leaves it; removing
it from its row takes it away; a viewer sees the volumes without the forms."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import WORK_MS, online, unique

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_dry_run_prune_and_remove_a_volume_from_the_page(open_page, register, fleet):
    host = online(register(fleet["h1"]))
    name = unique("ui-vol")
    try:
        page = open_page("admin")
        page.goto("/volumes/")
        page.evaluate("window.__notReloaded = true")
        form = page.locator("form[action='/volumes/new/']")
        form.get_by_label("Host").select_option(label=host.name)
        form.get_by_label("Name").fill(name)
        form.get_by_role("button", name="Create").click()
        expect(page.get_by_test_id("op-feedback").first).to_contain_text(f"Creating volume {name}")

        row = page.locator(f'tr[data-volume="{name}"][data-host="{host.name}"]')
        expect(row).to_be_visible(timeout=WORK_MS)
        expect(row).to_contain_text("local")
        expect(row.get_by_test_id("volume-size")).to_have_text("not measured")
        expect(row.get_by_test_id("volume-users")).to_have_text("none")
        assert page.evaluate("window.__notReloaded") is True

        prune = page.locator("form[action='/volumes/prune/']")
        prune.get_by_label("Host").select_option(label=host.name)
        prune.get_by_label("Every unused volume").check()
        expect(prune.get_by_label("Dry run")).to_be_checked()
        prune.get_by_role("button", name="Prune").click()
        expect(page.get_by_test_id("prune-result").first).to_contain_text(
            "Would remove", timeout=WORK_MS
        )
        expect(page.get_by_test_id("prune-result").first).to_contain_text(name)
        expect(row).to_be_visible()

        viewer = open_page("viewer")
        viewer.goto("/volumes/")
        expect(viewer.locator(f'tr[data-volume="{name}"]')).to_be_visible()
        expect(viewer.get_by_role("heading", name="Create a volume")).to_have_count(0)
        expect(viewer.get_by_role("button", name="Remove")).to_have_count(0)

        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Remove").click()
        expect(row).to_have_count(0, timeout=WORK_MS)
        assert fleet["h1"].docker("volume", "inspect", name, check=False).returncode != 0
    finally:
        fleet["h1"].docker("volume", "rm", name, check=False)
