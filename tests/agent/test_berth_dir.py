"""The agent checks ~/.berth before it says hello: the directory that holds the agent
itself and the host's policy file must be the agent user's own, mode 0700. Merely
readable by others (a hand-made 0755): tightened to 0700, said on stderr, and the
agent starts. Writable by others, a symbolic link, not a directory, or someone
else's: it refuses to start, with one line on stderr that Berth shows as the host's
status reason."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.agent.helpers import PYTHON


def _start(agent_pyz: Path, docker_host: str, home: Path) -> subprocess.CompletedProcess:
    """Start the agent with ``home`` as HOME and nothing on stdin: it says hello (or
    not) and ends at the end of its input."""
    return subprocess.run(
        [PYTHON, "-I", "-S", str(agent_pyz), "serve", "--docker-host", docker_host],
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _said_hello(result: subprocess.CompletedProcess) -> bool:
    lines = result.stdout.splitlines()
    return bool(lines) and "hello" in json.loads(lines[0])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def _mode(path: Path) -> int:
    return path.lstat().st_mode & 0o7777


def test_a_private_berth_dir_is_left_alone(agent_pyz: Path, docker_host: str, home: Path) -> None:
    (home / ".berth").mkdir(mode=0o700)
    result = _start(agent_pyz, docker_host, home)
    assert _said_hello(result), result.stderr
    assert result.returncode == 0 and result.stderr == ""
    assert _mode(home / ".berth") == 0o700


def test_no_berth_dir_is_no_reason_to_refuse(agent_pyz: Path, docker_host: str, home: Path) -> None:
    """A local-transport agent runs from Berth's build directory: no ~/.berth yet."""
    result = _start(agent_pyz, docker_host, home)
    assert _said_hello(result), result.stderr
    assert not (home / ".berth").exists()


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711], ids=oct)
def test_a_berth_dir_others_can_only_read_is_made_0700(
    agent_pyz: Path, docker_host: str, home: Path, mode: int
) -> None:
    berth = home / ".berth"
    berth.mkdir()
    berth.chmod(mode)
    result = _start(agent_pyz, docker_host, home)
    assert _said_hello(result), result.stderr
    assert _mode(berth) == 0o700
    assert f"~/.berth had mode {mode:04o}; made it 0700" in result.stderr


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o1777], ids=oct)
def test_a_berth_dir_others_could_write_to_is_refused(
    agent_pyz: Path, docker_host: str, home: Path, mode: int
) -> None:
    berth = home / ".berth"
    berth.mkdir()
    berth.chmod(mode)
    result = _start(agent_pyz, docker_host, home)
    assert not _said_hello(result)
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    assert line.startswith("berth-agent: error: ~/.berth has mode ")
    assert "others could have replaced" in line and "chmod 700 ~/.berth" in line
    assert _mode(berth) == mode  # not "fixed": what is in it may not be Berth's any more


def test_a_berth_dir_that_is_a_link_is_refused(
    agent_pyz: Path, docker_host: str, home: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (home / ".berth").symlink_to(elsewhere)
    result = _start(agent_pyz, docker_host, home)
    assert not _said_hello(result) and result.returncode == 3
    assert "~/.berth is a symbolic link" in result.stderr


def test_a_berth_file_is_refused(agent_pyz: Path, docker_host: str, home: Path) -> None:
    (home / ".berth").write_text("")
    result = _start(agent_pyz, docker_host, home)
    assert not _said_hello(result) and result.returncode == 3
    assert "~/.berth is not a directory" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_berth_dir_of_another_user_is_refused(
    agent_pyz: Path, docker_host: str, home: Path
) -> None:
    berth = home / ".berth"
    berth.mkdir(mode=0o700)
    os.chown(berth, 65534, 65534)
    result = _start(agent_pyz, docker_host, home)
    assert not _said_hello(result) and result.returncode == 3
    assert f"~/.berth is owned by uid 65534, not by the agent's user (uid {os.getuid()})" in (
        result.stderr
    )
    assert _mode(berth) == 0o700
