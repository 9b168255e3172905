"""Every main page at a phone's width (390x844) and a laptop's (1280x800): nothing makes the
page scroll sideways, the browser and htmx report no error, and on the phone the main
navigation is a menu that opens and leads to the other sections."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from containers.models import Container
from deployments.models import Revision, Service
from hosts.disk import store_usage
from hosts.models import HostGroup
from images.models import Image
from images.services import store_layers
from operations.models import Operation
from tests.browser.conftest import PASSWORD, TIMEOUT_MS
from tests.browser.helpers import online, unique

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
# Long, unbreakable values are what pushed pages wider than a phone.
LONG_IMAGE = "registry.example.internal:5000/team/shop-web-frontend:v1.42.0-rc.1-with-a-long-tag"
# htmx's error events (each is also logged, but a listener does not depend on its logger).
HTMX_ERRORS = [
    "htmx:syntax:error", "htmx:responseError", "htmx:sendError", "htmx:swapError",
    "htmx:targetError", "htmx:onLoadError", "htmx:evalDisallowedError", "htmx:oobErrorNoTarget",
    "htmx:historyCacheError", "htmx:invalidPath", "htmx:timeout",
]  # fmt: skip
REPORT_HTMX_ERRORS = (
    f"for (const name of {json.dumps(HTMX_ERRORS)}) document.addEventListener(name, (e) => "
    "console.error('htmx error event ' + e.type + ': ' + JSON.stringify("
    "(e.detail && (e.detail.token || e.detail.error || (e.detail.xhr && e.detail.xhr.status))) "
    "|| '')));"
)
# What still makes the page scroll sideways: the elements sticking out past the viewport,
# outside any box that scrolls on its own.
OVERFLOW = """() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const culprits = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.getBoundingClientRect().right > width + 1 && !el.closest(".overflow-auto")) {
      culprits.push(el.tagName.toLowerCase() + (el.className ? "." + String(el.className) : ""));
    }
  }
  return document.documentElement.scrollWidth + "px wide: " + culprits.slice(0, 5).join(", ");
}"""


def test_every_page_fits_a_phone_and_raises_no_error(browser, berth, users, register, fleet):
    host = online(register(fleet["h1"]))
    container = Container.objects.filter(host=host).first() or Container.objects.create(
        host=host,
        container_id="d" * 64,
        name="seeded-only-in-db",
        image=LONG_IMAGE,
        state="running",
    )
    group = HostGroup.objects.create(name=unique("rwd"))
    service = Service.objects.create(name=unique("rwd-svc"), host_group=group)
    Revision.objects.create(
        service=service, number=1, image=LONG_IMAGE, spec={"image": LONG_IMAGE},
        author_name="test", note="A revision note long enough to wrap on a phone's screen",
    )  # fmt: skip
    image = Image.objects.create(host=host, image_id="sha256:" + "e" * 64, tags=[LONG_IMAGE])
    long_step = "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends " * 4
    layer = {"digest": "sha256:" + "f" * 64, "shared_with": [{"id": image.image_id,
             "tags": [LONG_IMAGE]}], "shared_count": 1}  # fmt: skip
    store_layers(host, image.image_id, {"history": [
        {"created": 1_700_000_000, "created_by": long_step, "size": 123456, "layer": 0, **layer}
    ], "layers": [layer], "mapped": True})  # fmt: skip
    store_usage(host, {"images": {"count": 3, "active": 1, "size": 10**9, "reclaimable": 10**8}})
    operation = Operation.objects.order_by("pk").first()
    assert operation is not None  # registering the host is recorded as one
    pages = [
        "/", f"/hosts/{host.pk}/", "/hosts/add/", f"/hosts/{host.pk}/edit/", "/containers/",
        f"/containers/{container.pk}/",
        "/images/", f"/images/{image.pk}/", "/networks/", "/volumes/", "/disk/", "/services/",
        f"/services/{service.pk}/",
        f"/services/{service.pk}/revisions/new/", f"/services/{service.pk}/targets/",
        "/operations/", f"/operations/{operation.pk}/",
    ]  # fmt: skip

    problems: list[str] = []
    contexts = [browser.new_context(viewport=size, base_url=berth) for size in (PHONE, LAPTOP)]
    try:
        phone, laptop = [
            tour(context, users["admin"].username, pages, problems) for context in contexts
        ]
        assert not problems, "\n".join(problems)

        # On the phone the sections are behind the menu until it is opened; then each is reachable.
        main = phone.get_by_role("navigation", name="Main")
        menu = main.get_by_role("button", name="Menu")
        expect(main.get_by_role("link", name="Operations")).to_be_hidden()
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        main.get_by_role("link", name="Operations").click()
        phone.wait_for_url("**/operations/")
        menu.click()
        expect(main.get_by_role("link", name="Admin")).to_be_visible()
        expect(main.get_by_role("button", name="Log out")).to_be_visible()

        # On the laptop there is no menu to open; the operations filter reacts to typing.
        main = laptop.get_by_role("navigation", name="Main")
        expect(main.get_by_role("button", name="Menu")).to_be_hidden()
        main.get_by_role("link", name="Operations").click()
        laptop.get_by_label("Actor").press_sequentially("nobody-at-all")
        laptop.wait_for_url("**actor=nobody-at-all**")
        expect(laptop.locator("#operations")).to_contain_text("No operations")
        assert not problems, "\n".join(problems)
    finally:
        for context in contexts:
            context.close()


def tour(context, username: str, pages: list[str], problems: list[str]):  # type: ignore[no-untyped-def]
    """Log in and visit every page in this context's viewport, noting each problem in
    ``problems``; the page is left logged in."""
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(REPORT_HTMX_ERRORS)
    page = context.new_page()
    size = f"{page.viewport_size['width']}px"
    page.on(
        "console",
        lambda message: (
            problems.append(f"{size} {page.url}: console error: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"{size} {page.url}: {error}"))

    def visit(url: str) -> None:
        page.goto(url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(500)  # htmx's first requests and swaps
        overflow = page.evaluate(OVERFLOW)
        if overflow:
            problems.append(f"{size} {url} scrolls sideways, {overflow}")

    visit("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    for url in pages:
        visit(url)
    return page
