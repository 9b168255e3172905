"""Helpers for tests that run against the real test fleet built by scripts/testbed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TESTBED = REPO / "scripts" / "testbed"
TESTBED_DIR = Path(os.environ.get("BERTH_TESTBED_DIR", "/var/lib/berth-testbed"))
# Read by every test host's sshd (scripts/testbed); a test that adds a line removes it.
AUTHORIZED_KEYS = TESTBED_DIR / "client" / "authorized_keys"


@dataclass(frozen=True)
class FleetHost:
    name: str
    address: str
    port: int
    user: str
    private_key: str
    host_key: str
    docker_host: str
    link: str

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this host's engine, as an operator on the host would."""
        return subprocess.run(
            ["docker", "-H", self.docker_host, *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
        )


@dataclass(frozen=True)
class Fleet:
    hosts: list[FleetHost]
    registry: str
    raw: dict[str, Any]

    def __getitem__(self, name: str) -> FleetHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LookupError(
            f"the test fleet has no host {name} ({len(self.hosts)} host(s) up): "
            f"run `scripts/testbed up {max(3, len(self.hosts))}`"
        )

    def raw_host(self, name: str) -> dict[str, Any]:
        return next(entry for entry in self.raw["hosts"] if entry["name"] == name)


def load_fleet(inventory: str = "inventory.json") -> Fleet:
    """The test fleet (or, with ``scale-inventory.json``, the light hosts of `testbed scale`)."""
    path = TESTBED_DIR / inventory
    if not path.exists():
        raise RuntimeError(
            f"no test fleet: {path} is missing. Start one with `scripts/testbed up 3` "
            "(make test does this for you)."
        )
    data = json.loads(path.read_text())
    hosts = [
        FleetHost(
            name=entry["name"],
            address=entry["address"],
            port=entry["port"],
            user=entry["user"],
            private_key=entry["private_key"],
            host_key=entry["host_key"],
            docker_host=entry["docker_host"],
            link=entry["link"],
        )
        for entry in data["hosts"]
    ]
    return Fleet(hosts=hosts, registry=data["registry"], raw=data)


def run_testbed(*args: str) -> str:
    """Run a scripts/testbed subcommand (fault injection: sshd stop, link down, ...)."""
    result = subprocess.run(
        [str(TESTBED), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"testbed {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str
) -> Any:
    """Poll until predicate() is truthy and return its value; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
