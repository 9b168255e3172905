"""Every page works under Berth's Content-Security-Policy: no script or style it loads
or runs is refused (the browser reports each refusal as a CSP violation), and what
moved out of inline code still does its job."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from containers.models import Container
from deployments.models import Revision, Service
from hosts.models import HostGroup
from tests.browser.helpers import online, unique

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_pages_raise_no_csp_violation(open_page, register, fleet):
    host = online(register(fleet["h1"]))
    container = Container.objects.filter(host=host).first() or Container.objects.create(
        host=host, container_id="c" * 64, name="seeded-only-in-db", image="x", state="running"
    )
    group = HostGroup.objects.create(name=unique("csp"))
    service = Service.objects.create(name=unique("csp-svc"), host_group=group)
    Revision.objects.create(
        service=service, number=1, image="demo/web:v1", spec={"image": "demo/web:v1"},
        author_name="test",
    )  # fmt: skip
    page = open_page("admin")
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(str(error)))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + "
        "e.blockedURI))"
    )
    pages = ["/", f"/hosts/{host.pk}/", "/hosts/add/", f"/hosts/{host.pk}/edit/", "/containers/",
             f"/containers/{container.pk}/", "/images/", "/networks/", "/volumes/", "/services/",
             f"/services/{service.pk}/",
             f"/services/{service.pk}/targets/",
             "/operations/", "/api/docs/"]  # fmt: skip
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(700)  # htmx's first swaps and polls
    expect(page.locator("#swagger-ui .info")).to_be_visible()  # the docs page rendered

    # What moved out of inline code still works: select-all, and no poll while ticked.
    page.goto("/containers/")
    boxes = page.locator("#containers input[name=container]")
    page.get_by_label("Select all on this page").check()
    expect(boxes.first).to_be_checked()
    page.wait_for_timeout(6_500)  # past the list's 5 s poll, which would drop the ticks
    expect(boxes.first).to_be_checked()
    assert not violations, violations
