"""~/.berth on a real host: Berth makes it 0700 when it installs the agent there; one
that others could write to keeps the agent from starting, and the host's status says
why and what to do; one others can merely read is tightened by the agent itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_link.launch import REMOTE_PATH
from agent_link.pool import pool
from hosts.choices import HostStatus
from tests.integration.container_support import until_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


@pytest.fixture
def berth_dir(set_aside_berth_dir) -> Path:
    """h2's ~/.berth, moved out of the way for the test and put back afterwards."""
    return set_aside_berth_dir("h2")


def _mode(path: Path) -> int:
    return path.lstat().st_mode & 0o7777


def test_installing_the_agent_makes_the_dir_0700(register, fleet, berth_dir):
    host = register(fleet["h2"])
    try:
        until_status(host, HostStatus.ONLINE)
        assert _mode(berth_dir) == 0o700
        assert (berth_dir.parent / REMOTE_PATH).is_file()
    finally:
        pool.discard(host.pk)


def test_a_dir_others_could_write_to_keeps_the_agent_from_starting(register, fleet, berth_dir):
    berth_dir.mkdir()
    berth_dir.chmod(0o775)
    host = register(fleet["h2"])
    try:
        host = until_status(host, HostStatus.AGENT_FAILED)
        assert "exited with status 3" in host.status_reason, host.status_reason
        assert "~/.berth has mode 0775" in host.status_reason
        assert "chmod 700 ~/.berth" in host.status_reason
        assert _mode(berth_dir) == 0o775
    finally:
        pool.discard(host.pk)


def test_a_dir_others_can_only_read_is_tightened_by_the_agent(register, fleet, berth_dir):
    berth_dir.mkdir()
    berth_dir.chmod(0o755)
    host = register(fleet["h2"])
    try:
        until_status(host, HostStatus.ONLINE)
        assert _mode(berth_dir) == 0o700
    finally:
        pool.discard(host.pk)
