"""Fixtures shared by every test."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

# The test fleet, Redis and a Celery worker, shared by integration and browser tests.
pytest_plugins = ["tests.live_services"]


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root-admin", "", "correct horse battery")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test is a failed test here: a missing service must fail CI loudly."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped tests count as failures in this suite: {reason}"
    return report
