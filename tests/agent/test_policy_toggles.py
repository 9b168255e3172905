"""The agent enforces the policy's toggles itself: a request sent straight to it asking
for a privileged container, host namespaces, capabilities, devices, unconfined security
options or sysctls is refused (policy_denied) before anything is created, unless
~/.berth/policy.json allows it or grants that exact spec (an admin's override); what
the policy allows reaches Docker as asked."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.agent.helpers import IDLE_CMD, TEST_LABEL, docker_cli, unique

DENIED = [
    ({"privileged": True}, "args.privileged", "allow_privileged"),
    ({"cap_add": ["SYS_ADMIN"]}, "args.cap_add", "allow_cap_add"),
    ({"devices": ["/dev/fuse"]}, "args.devices", "allow_devices"),
    ({"network_mode": "host"}, "args.network_mode", "allow_host_network"),
    ({"pid_mode": "host"}, "args.pid_mode", "allow_host_pid"),
    ({"ipc_mode": "host"}, "args.ipc_mode", "allow_host_ipc"),
    ({"userns_mode": "host"}, "args.userns_mode", "allow_host_userns"),
    ({"security_opt": ["seccomp=unconfined"]}, "args.security_opt", "allow_unconfined"),
    ({"sysctls": {"net.ipv4.ip_forward": "1"}}, "args.sysctls", "allow_sysctls"),
]


def _home(tmp_path: Path, **policy: Any) -> Path:
    home = tmp_path / "home"
    berth = home / ".berth"
    berth.mkdir(parents=True)
    berth.chmod(0o700)
    document = {"version": 2, "allowed_bind_prefixes": [], "granted_specs": [], **policy}
    (berth / "policy.json").write_text(json.dumps(document))
    (berth / "policy.json").chmod(0o600)
    return home


@pytest.fixture
def agent_in(start_agent: Any, docker_host: str) -> Any:
    def start(home: Path) -> Any:
        return start_agent(docker_host, {**os.environ, "HOME": str(home)})

    return start


def _spec(image: str, **extra: Any) -> dict[str, Any]:
    return {
        "image": image,
        "name": unique("tog"),
        "command": IDLE_CMD,
        "labels": {TEST_LABEL: "1"},
        **extra,
    }


def _digest(spec: dict[str, Any]) -> str:
    body = {key: value for key, value in spec.items() if key != "env"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def test_a_forged_run_asking_for_any_toggle_is_refused_and_nothing_is_created(
    agent_in: Any, tmp_path: Path, test_image: str, docker_host: str
) -> None:
    agent = agent_in(_home(tmp_path))
    for extra, where, toggle in DENIED:
        spec = _spec(test_image, **extra)
        reply = agent.call("container.run", spec)
        assert reply.code == "policy_denied", (extra, reply)
        assert where in reply.error["message"] and toggle in reply.error["message"], reply
        assert docker_cli(docker_host, "inspect", spec["name"], check=False).returncode != 0


def test_without_a_policy_file_every_toggle_is_refused(
    agent_in: Any, tmp_path: Path, test_image: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    reply = agent_in(home).call("container.run", _spec(test_image, privileged=True))
    assert reply.code == "policy_denied", reply
    assert "there is no ~/.berth/policy.json" in reply.error["message"]


def test_a_forged_deploy_asking_for_privileged_is_refused(
    agent_in: Any, tmp_path: Path, test_image: str
) -> None:
    agent = agent_in(_home(tmp_path))
    spec = {"image": test_image, "command": IDLE_CMD, "privileged": True}
    reply = agent.call("service.deploy", {"service": unique("svc"), "revision": 1, "spec": spec})
    assert reply.code == "policy_denied", reply
    assert "args.spec.privileged" in reply.error["message"]


def test_what_the_policy_allows_reaches_docker(
    agent_in: Any, tmp_path: Path, test_image: str, docker_host: str
) -> None:
    home = _home(
        tmp_path,
        allow_privileged=True,
        allow_cap_add=True,
        allow_host_ipc=True,
        allow_unconfined=True,
        allow_sysctls=True,
    )
    spec = _spec(
        test_image,
        privileged=True,
        cap_add=["NET_ADMIN"],
        ipc_mode="host",
        security_opt=["seccomp=unconfined", "no-new-privileges"],
        sysctls={"net.core.somaxconn": "1024"},
        user="1000:1000",
    )
    result = agent_in(home).ok("container.run", spec)
    assert result["summary"]["state"] == "running"
    out = docker_cli(
        docker_host, "inspect", "-f", "{{json .HostConfig}}|{{.Config.User}}", spec["name"]
    )
    host_config, user = out.stdout.decode().strip().split("|")
    hc = json.loads(host_config)
    assert hc["Privileged"] is True
    assert hc["CapAdd"] == ["NET_ADMIN"]
    assert hc["IpcMode"] == "host"
    assert "seccomp=unconfined" in hc["SecurityOpt"] and "no-new-privileges" in hc["SecurityOpt"]
    assert hc["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert user == "1000:1000"
    docker_cli(docker_host, "rm", "-f", spec["name"])


def test_a_granted_spec_runs_and_only_that_spec(
    agent_in: Any, tmp_path: Path, test_image: str, docker_host: str
) -> None:
    # user 1000: the test fleet's nested engines cannot hand root every capability.
    spec = _spec(test_image, privileged=True, user="1000", env={"SECRET_VALUE": "not in digest"})
    agent = agent_in(_home(tmp_path, granted_specs=[_digest(spec)]))
    other = {**spec, "name": unique("tog")}
    refused = agent.call("container.run", other)
    assert refused.code == "policy_denied", refused
    result = agent.ok("container.run", spec)
    assert result["summary"]["state"] == "running"
    out = docker_cli(docker_host, "inspect", "-f", "{{.HostConfig.Privileged}}", spec["name"])
    assert out.stdout.decode().strip() == "true"
    docker_cli(docker_host, "rm", "-f", spec["name"])


def test_a_grant_never_lifts_the_hard_deny_list(agent_in: Any, tmp_path: Path, test_image: str):
    spec = _spec(test_image, volumes=[{"source": "/", "target": "/host"}])
    reply = agent_in(_home(tmp_path, granted_specs=[_digest(spec)])).call("container.run", spec)
    assert reply.code == "policy_denied", reply
    assert "deny list" in reply.error["message"]


def test_a_policy_refusing_root_wants_a_non_root_user(
    agent_in: Any, tmp_path: Path, test_image: str, docker_host: str
) -> None:
    agent = agent_in(_home(tmp_path, allow_root_user=False))
    for user in ("0", "root", "root:1000"):
        reply = agent.call("container.run", _spec(test_image, user=user))
        assert reply.code == "policy_denied", reply
        assert "args.user" in reply.error["message"]
    # No user in the spec: the image's own (busybox: root) decides.
    reply = agent.call("container.run", _spec(test_image))
    assert reply.code == "policy_denied", reply
    assert "image" in reply.error["message"] and "allow_root_user" in reply.error["message"]
    spec = _spec(test_image, user="1000")
    assert agent.ok("container.run", spec)["summary"]["state"] == "running"
    docker_cli(docker_host, "rm", "-f", spec["name"])


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"privileged": "yes"}, "args.privileged"),
        ({"cap_add": ["sys admin"]}, "args.cap_add"),
        ({"devices": ["/dev/sda:/x:rwz"]}, "args.devices"),
        ({"network_mode": "container:x"}, "args.network_mode"),
        ({"security_opt": ["seccomp={}"]}, "args.security_opt"),
        ({"sysctls": {"a b": "1"}}, "args.sysctls"),
        ({"user": 0}, "args.user"),
    ],
)
def test_bad_values_are_invalid_arguments(
    agent_in: Any, tmp_path: Path, test_image: str, extra: dict[str, Any], where: str
) -> None:
    reply = agent_in(_home(tmp_path)).call("container.run", _spec(test_image, **extra))
    assert reply.code == "invalid_argument", reply
    assert where in reply.error["message"]
