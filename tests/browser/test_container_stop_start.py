"""Stop and start a container from its page: after a confirmation the state badge
changes on its own (htmx polling), without reloading the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from containers.models import Container
from hosts.services import request_refresh
from tests.browser.helpers import WORK_MS, online, unique
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sleeper(fleet):  # type: ignore[no-untyped-def]
    name = unique("ui-sleeper")
    fleet["h1"].docker("run", "-d", "--name", name, f"{fleet.registry}/demo/sleeper:v1")
    yield name
    fleet["h1"].docker("rm", "-f", name, check=False)


def test_stop_then_start_a_container_from_its_page(open_page, register, fleet, sleeper):
    host = online(register(fleet["h1"]))

    def stored():  # type: ignore[no-untyped-def]
        container = Container.objects.filter(host=host, name=sleeper).first()
        if container is None:
            request_refresh(host, actor=None)
        return container

    container = wait_for(stored, timeout=60, interval=2, what=f"Berth to list {sleeper}")
    page = open_page("admin")
    page.goto(f"/containers/{container.pk}/")
    state = page.get_by_test_id("state")
    expect(state).to_have_text("running")
    page.evaluate("window.__notReloaded = true")
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation step

    page.locator('[data-action="stop"]').click()
    expect(page.get_by_test_id("op-feedback").first).to_contain_text("Stopping")
    expect(state).to_have_text("exited", timeout=WORK_MS)
    expect(page.get_by_test_id("op-feedback").first).to_have_attribute(
        "data-status", "succeeded", timeout=WORK_MS
    )

    page.locator('[data-action="start"]').click()
    expect(state).to_have_text("running", timeout=WORK_MS)
    assert page.evaluate("window.__notReloaded") is True
    assert fleet["h1"].docker("inspect", "-f", "{{.State.Status}}", sleeper).stdout.strip() == (
        "running"
    )
