"""Integration tests run against the real services of tests/live_services.py."""

import pytest


@pytest.fixture(autouse=True)
def _short_timeouts(short_timeouts):
    """Every integration test runs with the worker's short timeouts."""


@pytest.fixture
def set_aside_berth_dir(fleet):
    """set_aside_berth_dir(name): move that test host's ~/.berth (agent, policy file)
    out of the way and return its path; the original is put back afterwards."""
    import shutil
    from pathlib import Path

    moved: list[tuple[Path, Path]] = []

    def _set_aside(name: str) -> Path:
        home = Path(fleet.raw_host(name)["home"])
        path, saved = home / ".berth", home / ".berth.before-test"
        if saved.exists():
            shutil.rmtree(saved)
        if path.exists():
            path.rename(saved)
        moved.append((path, saved))
        return path

    yield _set_aside
    for path, saved in reversed(moved):
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        if saved.exists():
            saved.rename(path)
