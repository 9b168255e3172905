"""Integration tests run against the real services of tests/live_services.py."""

import pytest


@pytest.fixture(autouse=True)
def _short_timeouts(short_timeouts):
    """Every integration test runs with the worker's short timeouts."""
