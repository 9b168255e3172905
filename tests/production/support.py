"""Helpers for the production stack's smoke test: scripts/stack, docker-compose and the
docker CLI against the stack's own engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fleet import REPO

STACK = REPO / "scripts" / "stack"


def stack(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run scripts/stack (its `compose` passes the rest to docker-compose)."""
    return subprocess.run(
        [str(STACK), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def compose(*args: str, timeout: float = 180) -> str:
    result = stack("compose", *args, timeout=timeout)
    assert result.returncode == 0, f"docker-compose {' '.join(args)}: {result.stderr}"
    return result.stdout


def engine(docker_host: str, *args: str) -> str:
    """The docker CLI against the stack's own engine."""
    result = subprocess.run(
        ["docker", "-H", docker_host, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout


def private_key(path: str) -> str:
    return Path(path).read_text()
