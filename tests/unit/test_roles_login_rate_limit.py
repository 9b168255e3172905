"""Failed password logins are logged (never the password) and, past a limit, refused
for a while without checking the password."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache

from access.roles import Role
from tests.unit.roles_support import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_failure_counts():
    cache.clear()
    yield
    cache.clear()


def _login(client, password):
    return client.post("/login/", {"username": "ops", "password": password})


def test_failed_logins_are_logged_without_the_password(client, caplog):
    make_user("ops", Role.OPERATOR)
    with caplog.at_level(logging.WARNING, logger="berth.security"):
        assert _login(client, "hunter2-wrong").status_code == 200
    assert "failed password login" in caplog.text
    assert "'ops'" in caplog.text
    assert "hunter2-wrong" not in caplog.text


def test_too_many_failures_block_the_login_for_a_while(client, settings):
    settings.BERTH_LOGIN_MAX_FAILURES = 3
    make_user("ops", Role.OPERATOR)
    for _ in range(3):
        assert _login(client, "wrong").status_code == 200
    blocked = _login(client, "correct horse battery")
    assert blocked.status_code == 429
    assert b"Too many failed logins" in blocked.content
    cache.clear()  # the window passed
    assert _login(client, "correct horse battery").status_code == 302


def test_a_good_login_works_and_the_admin_login_goes_through_the_same_page(client):
    make_user("ops", Role.OPERATOR)
    assert _login(client, "correct horse battery").status_code == 302
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
