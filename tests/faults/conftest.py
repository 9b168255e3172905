"""Fault tests: real Berth processes (worker, watcher) and the real test fleet, with a
dependency taken away and given back while they run. Each outcome is asserted, and
each wait is bounded, so a process that never recovers fails the test."""

import pytest


@pytest.fixture(autouse=True)
def _short_timeouts(short_timeouts):
    """The same short timeouts as the processes the tests start."""
