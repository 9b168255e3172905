"""The production stack's smoke test runs in a stage of its own (scripts/stack-test,
`make stack-test`), against the stack `scripts/stack up` started: collected only with
BERTH_STACK_TEST=1, so the rest of the suite neither runs nor skips it."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from .support import stack

if os.environ.get("BERTH_STACK_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def stack_info() -> dict[str, Any]:
    result = stack("info")
    if result.returncode != 0:
        pytest.fail(f"no production stack: run `scripts/stack up` first\n{result.stderr}")
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="session")
def docker_host(stack_info: dict[str, Any]) -> str:
    return str(stack_info["docker_host"])
