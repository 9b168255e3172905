"""Create a service through the form, deploy v1 and then v2 from the page while the
rollout's per-host progress updates live, then roll back to v1 from the history."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import ROLLOUT_MS, online, remove_service_containers, served, unique

pytestmark = pytest.mark.django_db(transaction=True)

PORT = 29080  # not 28080: the integration deploy tests use that one
HOSTS = ("h1", "h2")


@pytest.fixture
def service_name(fleet):  # type: ignore[no-untyped-def]
    name = unique("web-ui")
    yield name
    for host in HOSTS:
        remove_service_containers(fleet[host], name)


def _rollout_done(page, revision: int, kind: str = "Deploy") -> None:  # type: ignore[no-untyped-def]
    latest = page.get_by_test_id("latest-rollout")
    expect(latest).to_contain_text(f"{kind} of r{revision}", timeout=ROLLOUT_MS)
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=ROLLOUT_MS)
    for host in HOSTS:
        expect(latest.locator(f'li[data-host="{host}"]')).to_have_attribute("data-step", "done")
    expect(page.get_by_test_id("live-revision")).to_have_text(f"r{revision}")


def test_deploy_v1_then_v2_and_roll_back_to_v1(open_page, register, fleet, service_name):
    for host in HOSTS:
        online(register(fleet[host]))
    addresses = [fleet[host].address for host in HOSTS]
    page = open_page("admin")
    page.on("dialog", lambda dialog: dialog.accept())

    page.get_by_role("link", name="Services").click()
    page.get_by_role("button", name="New service").click()
    page.get_by_label("Name", exact=True).fill(service_name)
    for host in HOSTS:
        page.get_by_label(host, exact=True).check()
    page.get_by_label("Image").fill(f"{fleet.registry}/demo/web:v1")
    page.get_by_label("Ports").fill(f"{PORT}:80")
    page.get_by_label("Note").fill("first release")
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_role("heading", name=service_name)).to_be_visible()

    page.locator('[data-action="deploy"]').click()
    expect(page.get_by_test_id("op-feedback").first).to_contain_text("Deploying revision 1")
    _rollout_done(page, 1)
    assert all("demo web v1" in served(address, PORT) for address in addresses)

    page.get_by_role("button", name="New revision").click()
    expect(page.get_by_label("Image")).to_have_value(f"{fleet.registry}/demo/web:v1")
    page.get_by_label("Image").fill(f"{fleet.registry}/demo/web:v2")
    page.get_by_label("Note").fill("v2")
    page.get_by_role("button", name="Create revision").click()
    expect(page.locator('tr[data-revision="2"]')).to_contain_text("demo/web:v2")  # the diff
    page.locator('[data-action="deploy"]').click()
    _rollout_done(page, 2)
    assert all("demo web v2" in served(address, PORT) for address in addresses)

    page.locator('tr[data-revision="1"] [data-action="rollback"]').click()
    _rollout_done(page, 1, kind="Rollback")
    assert all("demo web v1" in served(address, PORT) for address in addresses)
