"""Fixtures for the unit tests of the pages (users of each role, a small seeded fleet)."""

from tests.unit.frontend_fixtures import (  # noqa: F401 - fixtures
    operator_client,
    operator_user,
    seeded,
    viewer_client,
    viewer_user,
)
