"""The agent enforces the host's container security policy itself: a request sent
straight to it (forged, or from a buggy server) cannot bind the host's root, the
Docker socket or a path ~/.berth/policy.json does not allow, and a policy file that
someone else could have written is not trusted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.agent.helpers import IDLE_CMD, TEST_LABEL, docker_cli, unique


def _home(tmp_path: Path, prefixes: list[str] | None, *, mode: int = 0o600) -> Path:
    """A HOME for the agent with ~/.berth (0700) and, unless None, a policy file."""
    home = tmp_path / "home"
    berth = home / ".berth"
    berth.mkdir(parents=True)
    berth.chmod(0o700)
    if prefixes is not None:
        policy = berth / "policy.json"
        policy.write_text(json.dumps({"version": 1, "allowed_bind_prefixes": prefixes}))
        policy.chmod(mode)
    return home


@pytest.fixture
def agent_in(start_agent: Any, docker_host: str) -> Any:
    def start(home: Path) -> Any:
        return start_agent(docker_host, {**os.environ, "HOME": str(home)})

    return start


def _run_spec(image: str, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "image": image,
        "name": unique("pol"),
        "command": IDLE_CMD,
        "labels": {TEST_LABEL: "1"},
        "volumes": [{"source": source, "target": "/mnt"}],
        **extra,
    }


@pytest.mark.parametrize(
    "source", ["/", "/var/run/docker.sock", "/run/docker.sock", "/etc", "/proc/1", "/root"]
)
def test_a_forged_run_binding_the_host_is_refused_even_if_the_policy_allows_it(
    agent_in: Any, tmp_path: Path, test_image: str, docker_host: str, source: str
) -> None:
    agent = agent_in(_home(tmp_path, ["/", "/etc", "/var", "/run", "/proc", "/root"]))
    spec = _run_spec(test_image, source)
    reply = agent.call("container.run", spec)
    assert reply.code == "policy_denied", reply
    assert "deny list" in reply.error["message"]
    assert docker_cli(docker_host, "inspect", spec["name"], check=False).returncode != 0


def test_a_forged_deploy_binding_root_is_refused(
    agent_in: Any, tmp_path: Path, test_image: str
) -> None:
    agent = agent_in(_home(tmp_path, ["/"]))
    spec = {"image": test_image, "volumes": [{"source": "/", "target": "/host"}]}
    reply = agent.call("service.deploy", {"service": unique("svc"), "revision": 1, "spec": spec})
    assert reply.code == "policy_denied", reply
    assert "args.spec.volumes[0].source" in reply.error["message"]


def test_a_link_under_an_allowed_prefix_cannot_reach_a_denied_path(
    agent_in: Any, tmp_path: Path, test_image: str
) -> None:
    allowed = tmp_path / "data"
    allowed.mkdir()
    (allowed / "root").symlink_to("/")
    agent = agent_in(_home(tmp_path, [str(allowed)]))
    reply = agent.call("container.run", _run_spec(test_image, str(allowed / "root")))
    assert reply.code == "policy_denied", reply
    assert "a link to /" in reply.error["message"]


@pytest.mark.parametrize(
    ("mode", "dir_mode", "why"),
    [(0o644, 0o700, "mode 0644"), (0o600, 0o755, "mode 0755")],
)
def test_a_policy_file_others_can_touch_is_not_trusted(
    agent_in: Any, tmp_path: Path, test_image: str, mode: int, dir_mode: int, why: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    home = _home(tmp_path, [str(data)], mode=mode)
    agent = agent_in(home)
    # Opened up after the start, which tightens ~/.berth itself (test_berth_dir.py).
    (home / ".berth").chmod(dir_mode)
    reply = agent.call("container.run", _run_spec(test_image, str(data)))
    assert reply.code == "policy_denied", reply
    assert why in reply.error["message"] and "not trusted" in reply.error["message"]


def test_without_a_policy_file_no_host_path_may_be_bound(
    agent_in: Any, tmp_path: Path, test_image: str
) -> None:
    reply = agent_in(_home(tmp_path, None)).call("container.run", _run_spec(test_image, "/srv"))
    assert reply.code == "policy_denied", reply
    assert "there is no ~/.berth/policy.json" in reply.error["message"]


def test_reserved_labels_are_refused_in_a_run(agent_in: Any, tmp_path: Path, test_image: str):
    agent = agent_in(_home(tmp_path, []))
    spec = {"image": test_image, "labels": {"berth.service": "web"}}
    reply = agent.call("container.run", spec)
    assert reply.code == "policy_denied", reply


def test_a_bind_the_policy_allows_runs(
    agent_in: Any, tmp_path: Path, test_image: str, docker_host: str
) -> None:
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    agent = agent_in(_home(tmp_path, [str(data)]))
    spec = _run_spec(test_image, str(data / "x"), labels={TEST_LABEL: "1", "berth.run": "k"})
    result = agent.ok("container.run", spec)
    assert result["summary"]["state"] == "running"
    assert docker_cli(docker_host, "inspect", spec["name"]).returncode == 0
    docker_cli(docker_host, "rm", "-f", "-v", spec["name"])
    refused = agent.call("container.run", _run_spec(test_image, str(tmp_path)))
    assert refused.code == "policy_denied", refused
    assert str(data) in refused.error["message"]
