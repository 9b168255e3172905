"""Log in, see the fleet live; a viewer sees no action buttons and a forged POST from
a viewer's session is refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from containers.models import Container
from operations.models import Operation
from tests.browser.helpers import WORK_MS, online

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_logs_in_and_sees_the_fleet_with_its_status(open_page, register, fleet):
    host = online(register(fleet["h1"]))
    page = open_page("admin")
    row = page.locator(f'tr[data-host="{host.name}"]')
    expect(row.get_by_test_id("status")).to_have_text("Online", timeout=WORK_MS)
    expect(row).to_contain_text(host.docker_version)
    expect(page.get_by_test_id("hosts-total")).to_have_text("1")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()

    page.get_by_role("link", name=host.name).click()
    expect(page.get_by_role("heading", name=host.name)).to_be_visible()
    assert "restrict" in page.get_by_test_id("authorized-keys").input_value()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")


def test_viewer_sees_no_actions_and_a_forged_post_is_refused(open_page, register, fleet):
    host = online(register(fleet["h1"]))
    container = Container.objects.filter(host=host).first() or Container.objects.create(
        host=host, container_id="f" * 64, name="seeded-only-in-db", image="x", state="running"
    )
    page = open_page("viewer")
    expect(page.get_by_test_id("role")).to_have_text("viewer")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.get_by_role("button", name="Refresh")).to_have_count(0)

    page.goto(f"/containers/{container.pk}/")
    expect(page.get_by_test_id("state")).to_be_visible()
    for action in ("start", "stop", "restart", "kill", "remove", "follow"):
        expect(page.locator(f'[data-action="{action}"]')).to_have_count(0)

    before = Operation.objects.count()
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for url in (
        f"/containers/{container.pk}/stop/",
        f"/hosts/{host.pk}/refresh/",
        f"/hosts/{host.pk}/remove/",
    ):
        response = page.request.post(
            url, form={"csrfmiddlewaretoken": token}, headers={"X-CSRFToken": token}
        )
        assert response.status == 403, url
    assert Operation.objects.count() == before
