"""Fixtures for the agent tests: a real dockerd, the built pyz, a test image, agent drivers.

The Docker endpoint comes from BERTH_TEST_DOCKER_HOST, else from the first host of the
test fleet (scripts/testbed); the tests fail, not skip, without a reachable engine.
BERTH_AGENT_PYZ may point at a prebuilt pyz; otherwise the session builds
build/berth-agent.pyz with scripts/build-agent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.helpers import (
    BUILD_SCRIPT,
    IDLE_CMD,
    REPO,
    TEST_IMAGE,
    TEST_LABEL,
    Agent,
    build_busybox_image,
    docker_cli,
    free_port,
    unique,
)
from tests.fleet import load_fleet


@pytest.fixture(scope="session")
def docker_host() -> str:
    url = os.environ.get("BERTH_TEST_DOCKER_HOST")
    if not url:
        try:
            url = load_fleet().hosts[0].docker_host
        except RuntimeError as exc:
            pytest.fail(
                f"set BERTH_TEST_DOCKER_HOST to a test dockerd, or start the test fleet: {exc}",
                pytrace=False,
            )
    r = docker_cli(url, "version", "--format", "{{.Server.Version}}", check=False, timeout=30)
    if r.returncode != 0:
        pytest.fail(f"the test dockerd at {url} is not reachable: {r.stderr!r}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def agent_pyz() -> Path:
    prebuilt = os.environ.get("BERTH_AGENT_PYZ")
    if prebuilt:
        return Path(prebuilt)
    out = REPO / "build" / "berth-agent.pyz"
    # Always rebuild: it takes well under a second from the cached deps and is never stale.
    subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def test_image(docker_host: str) -> Iterator[str]:
    """berth-test/busybox:1, removed at the end if this session built it (keeps hosts clean)."""
    built = docker_cli(docker_host, "image", "inspect", TEST_IMAGE, check=False).returncode != 0
    if built:
        build_busybox_image(docker_host, TEST_IMAGE)
    yield TEST_IMAGE
    if built:
        docker_cli(docker_host, "rmi", "-f", TEST_IMAGE, check=False)


@pytest.fixture(scope="session", autouse=True)
def _cleanup_test_containers(docker_host: str, test_image: str) -> Iterator[None]:
    yield
    ids = docker_cli(docker_host, "ps", "-aq", "--filter", f"label={TEST_LABEL}").stdout.split()
    if ids:
        docker_cli(docker_host, "rm", "-f", "-v", *[i.decode() for i in ids], check=False)


@pytest.fixture
def make_container(docker_host: str, test_image: str) -> Any:
    """Create (and by default start) a labelled container through the docker CLI."""

    def make(*cmd: str, start: bool = True, name: str | None = None, opts: tuple = ()) -> str:
        name = name or unique()
        verb = ["run", "-d"] if start else ["create"]
        argv = [*verb, "--name", name, "--label", f"{TEST_LABEL}=1", *opts, test_image]
        docker_cli(docker_host, *argv, *(cmd or IDLE_CMD))
        return name

    return make


@pytest.fixture
def agent(agent_pyz: Path, docker_host: str) -> Iterator[Agent]:
    a = Agent(agent_pyz, docker_host)
    yield a
    a.close()


@pytest.fixture
def start_agent(agent_pyz: Path) -> Iterator[Any]:
    """Start agents with custom docker hosts/env; all are closed at teardown."""
    started: list[Agent] = []

    def start(docker_host: str | None, env: dict[str, str] | None = None) -> Agent:
        a = Agent(agent_pyz, docker_host, env)
        started.append(a)
        return a

    yield start
    for a in started:
        a.close()


def _testbed_registry(docker_host: str) -> str | None:
    """The test fleet's registry, when the engine under test is one of its hosts."""
    state = Path(os.environ.get("BERTH_TESTBED_DIR", "/var/lib/berth-testbed"))
    try:
        inventory = json.loads((state / "inventory.json").read_text())
    except (OSError, ValueError):
        return None
    hosts = {h.get("docker_host") for h in inventory.get("hosts", [])}
    return inventory.get("registry") if docker_host in hosts else None


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_host: str) -> Iterator[str]:
    """host:port of a registry the engine under test can push to and pull from.

    BERTH_TEST_REGISTRY names an existing one; else the test fleet's registry is used when
    the engine is a fleet host; else Debian's docker-registry is started here on
    BERTH_TEST_REGISTRY_HOST (default 127.0.0.1, which dockerd treats as insecure-allowed).
    """
    existing = os.environ.get("BERTH_TEST_REGISTRY") or _testbed_registry(docker_host)
    if existing:
        yield existing
        return
    host = os.environ.get("BERTH_TEST_REGISTRY_HOST", "127.0.0.1")
    port = free_port(host)
    root = tmp_path_factory.mktemp("registry")
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '{host}:{port}'}}\n"
    )
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.fail("Debian's docker-registry is not installed", pytrace=False)
    with open(root / "registry.log", "wb") as log:
        proc = subprocess.Popen([exe, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (root / "registry.log").read_text()
                    pytest.fail(f"docker-registry did not start:\n{log_text}", pytrace=False)
                time.sleep(0.1)
        yield f"{host}:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
