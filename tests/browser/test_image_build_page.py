"""Build an image from the Build page: choose a host, give a git repository served on
the test bed and a tag, ask for a push; the page opens the build's operation, whose
log streams in and which ends succeeded with the image in the test registry. A URL
that is not a git repository is refused beside the form, with nothing queued."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from operations.models import Operation
from tests.browser.helpers import WORK_MS, online
from tests.integration import publish_support

pytestmark = pytest.mark.django_db(transaction=True)

git_server = publish_support.git_server  # the fixture, for this module's tests


def test_build_from_git_and_push_from_the_build_page(open_page, register, fleet, git_server):
    host = online(register(fleet["h2"]))
    url = git_server(
        "ui",
        {"Dockerfile": f"FROM {fleet.registry}/demo/sleeper:v1\nRUN echo built-in-ui > /ui.txt\n"},
    )
    name = f"test-ui-build-{uuid.uuid4().hex[:8]}"
    page = open_page("admin")
    page.goto("/images/")
    page.locator('[data-action="build"]').click()
    expect(page).to_have_url(re.compile(r"/images/build/$"))

    page.get_by_label("Host", exact=True).select_option(str(host.pk))
    page.get_by_label("Git repository").fill(url)
    page.get_by_label("Tags", exact=True).fill(f"{fleet.registry}/{name}:u1")
    page.get_by_label("Push the tags after the build").check()
    page.locator('[data-action="build"]').click()

    expect(page).to_have_url(re.compile(r"/operations/\d+/$"))
    expect(page.get_by_test_id("log")).to_contain_text("RUN echo built-in-ui", timeout=WORK_MS)
    expect(page.get_by_test_id("op-status")).to_have_text("succeeded", timeout=WORK_MS)
    with urllib.request.urlopen(f"http://{fleet.registry}/v2/{name}/tags/list", timeout=5) as r:
        assert json.load(r)["tags"] == ["u1"]


def test_a_url_that_is_not_a_git_repository_is_refused_beside_the_form(open_page, register, fleet):
    host = online(register(fleet["h2"]))
    page = open_page("admin")
    page.goto("/images/build/")
    before = Operation.objects.count()

    page.get_by_label("Host", exact=True).select_option(str(host.pk))
    page.get_by_label("Git repository").fill("ext::sh -c touch% /tmp/x")
    page.locator('[data-action="build"]').click()

    expect(page.locator('[data-field="git_url"] .field-error')).to_contain_text("git repository")
    assert Operation.objects.count() == before
