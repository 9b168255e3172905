"""Browser tests: Debian's Chromium driven by Playwright against a live Berth (the
in-process live server) with a real Celery worker, Redis and the real test fleet."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

# Playwright's sync API keeps an asyncio loop current in this thread, which Django
# would take for an async context; the ORM calls here are all synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BROWSER_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """What a page shows and does in a browser does not depend on the database the
    server uses: every browser test runs in `make test`'s first database run only
    (the pages' queries run on both databases in tests/unit)."""
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.one_database)


CHROMIUM = os.environ.get("BERTH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
PASSWORD = "browser-test-password"


def launch_chromium(playwright):  # type: ignore[no-untyped-def]
    """Debian's Chromium, headless; a missing browser fails loudly (never a download)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium; "
            "scripts/bootstrap test does) — browser tests never download a browser.",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def berth(request, live_server):  # type: ignore[no-untyped-def]
    """The live server's URL; tasks it queues run on the session's worker."""
    request.getfixturevalue("celery_worker")
    request.getfixturevalue("short_timeouts")
    return live_server.url


@pytest.fixture
def users(transactional_db):  # type: ignore[no-untyped-def]
    model = get_user_model()
    return {
        "admin": model.objects.create_superuser("ada-admin", "", PASSWORD),
        "viewer": model.objects.create_user("vic-viewer", "", PASSWORD),
    }


@pytest.fixture
def open_page(browser, berth, users) -> Iterator:  # type: ignore[type-arg]
    """open_page(role) → a Playwright page logged in through the login form."""
    contexts = []

    def _open(role: str = "admin"):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=berth)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill(users[role].username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{berth}/")
        return page

    yield _open
    for context in contexts:
        context.close()
