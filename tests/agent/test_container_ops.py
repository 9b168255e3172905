"""Container ops against the real engine: inspect, lifecycle, logs, stats and run."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.agent.helpers import IDLE_CMD, TEST_LABEL, Agent, docker_cli, unique


def _state(docker_host: str, name: str) -> str:
    return (
        docker_cli(docker_host, "inspect", "-f", "{{.State.Status}}", name).stdout.decode().strip()
    )


def _exists(docker_host: str, name: str) -> bool:
    return docker_cli(docker_host, "inspect", name, check=False).returncode == 0


def test_containers_inspect_returns_a_summary_and_the_raw_attrs(
    agent: Agent, make_container
) -> None:
    name = make_container(opts=("--label", "k=v"))
    result = agent.ok("container.inspect", {"id": name})
    s = result["summary"]
    assert s["name"] == name and s["state"] == "running" and s["labels"]["k"] == "v"
    assert isinstance(s["created"], int) and isinstance(s["started_at"], int)
    assert result["attrs"]["Name"] == "/" + name
    assert agent.ok("container.inspect", {"id": s["id"][:12]})["summary"]["id"] == s["id"]


def test_containers_inspect_of_a_missing_container_is_not_found(agent: Agent) -> None:
    assert agent.call("container.inspect", {"id": "no-such-container"}).code == "not_found"


def test_container_ids_must_match_a_safe_pattern(agent: Agent) -> None:
    for bad in ("../etc", "a b", "x;rm -rf /", "", 5, None, "-rf"):
        reply = agent.call("container.inspect", {"id": bad})
        assert reply.code == "invalid_argument", bad


def test_stop_start_restart_kill_and_remove_a_container(
    agent: Agent, make_container, docker_host: str
) -> None:
    name = make_container()
    assert agent.ok("container.stop", {"id": name, "timeout": 5})["state"] == "exited"
    assert _state(docker_host, name) == "exited"
    assert agent.ok("container.start", {"id": name})["state"] == "running"
    before = agent.ok("container.inspect", {"id": name})["summary"]["started_at"]
    time.sleep(1.1)
    restarted = agent.ok("container.restart", {"id": name, "timeout": 5})
    assert restarted["state"] == "running" and restarted["started_at"] > before
    killed = agent.ok("container.kill", {"id": name, "signal": "SIGKILL"})
    assert killed["state"] in ("exited", "running")
    deadline = time.monotonic() + 10
    while _state(docker_host, name) != "exited" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(docker_host, name) == "exited"
    assert agent.ok("container.remove", {"id": name}) == {"id": name, "removed": True}
    assert not _exists(docker_host, name)
    assert agent.call("container.start", {"id": name}).code == "not_found"


def test_removing_a_running_container_needs_force(
    agent: Agent, make_container, docker_host: str
) -> None:
    name = make_container()
    assert agent.call("container.remove", {"id": name}).code == "conflict"
    assert agent.ok("container.remove", {"id": name, "force": True, "volumes": True})
    assert not _exists(docker_host, name)


def test_kill_sends_a_named_signal_and_validates_it(agent: Agent, make_container) -> None:
    name = make_container()
    for bad in ("NOTASIGNAL", 0, 99, "TERM; ls", True):
        assert agent.call("container.kill", {"id": name, "signal": bad}).code == "invalid_argument"
    agent.ok("container.kill", {"id": name, "signal": "term"})


def test_stop_timeout_is_validated(agent: Agent) -> None:
    for bad in (-1, 99999, "10", 1.5):
        reply = agent.call("container.stop", {"id": "abc", "timeout": bad})
        assert reply.code == "invalid_argument", bad


def test_logs_return_tail_lines_with_their_stream(agent: Agent, make_container) -> None:
    name = make_container("sh", "-c", "echo out1; echo err1 >&2; echo out2; sleep 1000")
    time.sleep(0.5)
    result = agent.ok("container.logs", {"id": name})
    lines = {(e["stream"], e["line"]) for e in result["lines"]}
    assert lines == {("stdout", "out1"), ("stderr", "err1"), ("stdout", "out2")}
    assert result["truncated"] is False
    tail = agent.ok("container.logs", {"id": name, "tail": 1})["lines"]
    assert len(tail) == 1
    stamped = agent.ok("container.logs", {"id": name, "timestamps": True})["lines"]
    assert all(e["time"].startswith("20") for e in stamped)
    future = agent.ok("container.logs", {"id": name, "since": int(time.time()) + 3600})
    assert future["lines"] == []


# 3000 lines of 1000 bytes, then a marker: about 3 MB, three times the default cap.
BIG_LOG = "yes " + "x" * 999 + " | head -n 3000; echo last-line; sleep 100000"


def _logged_bytes(lines: list) -> int:
    return sum(len(e["line"].encode()) + 1 for e in lines)


def _wait_for_line(agent: Agent, name: str, text: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(
            e["line"] == text for e in agent.ok("container.logs", {"id": name, "tail": 1})["lines"]
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} never logged {text}")


def test_logs_are_capped_in_bytes_keeping_the_newest_lines(agent: Agent, make_container) -> None:
    name = make_container("sh", "-c", BIG_LOG)
    _wait_for_line(agent, name, "last-line")
    result = agent.ok("container.logs", {"id": name, "tail": "all"})
    assert result["truncated"] is True
    assert 1024 * 1024 - 1000 <= _logged_bytes(result["lines"]) <= 1024 * 1024
    assert result["lines"][-1]["line"] == "last-line"
    smaller = agent.ok("container.logs", {"id": name, "tail": 5000, "max_bytes": 100_000})
    assert smaller["truncated"] is True
    assert 99_000 <= _logged_bytes(smaller["lines"]) <= 100_000
    assert smaller["lines"][-1]["line"] == "last-line"
    for bad in (0, 1000, 64 * 1024 * 1024, "1MiB", True):
        reply = agent.call("container.logs", {"id": name, "max_bytes": bad})
        assert reply.code == "invalid_argument", bad


def test_logs_tail_all_is_bounded_by_the_line_limit(agent: Agent, make_container) -> None:
    name = make_container("sh", "-c", "seq 1 10005; echo last-line; sleep 100000")
    _wait_for_line(agent, name, "last-line")
    result = agent.ok("container.logs", {"id": name, "tail": "all"})
    assert len(result["lines"]) == 10000 and result["truncated"] is True
    assert result["lines"][-1]["line"] == "last-line"
    exact = agent.ok("container.logs", {"id": name, "tail": 10000})
    assert len(exact["lines"]) == 10000 and exact["truncated"] is False


def test_logs_follow_ends_at_the_byte_cap(agent: Agent, make_container) -> None:
    name = make_container("sh", "-c", "yes " + "y" * 999)
    req = agent.start("container.logs", {"id": name, "follow": True, "max_bytes": 100_000})
    reply = agent.wait(req, timeout=30)
    assert reply.ok, reply
    assert reply.result["truncated"] is True
    assert 90 <= reply.result["lines"] <= 100
    assert "100000 bytes" in reply.result["ended"]


def test_logs_follow_streams_lines_until_cancelled(agent: Agent, make_container) -> None:
    name = make_container(
        "sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"
    )
    req = agent.start("container.logs", {"id": name, "follow": True, "tail": 0})
    first = agent.next_message(req, timeout=10)
    assert first["progress"]["stream"] == "stdout"
    assert first["progress"]["line"].startswith("tick")
    second = agent.next_message(req, timeout=10)
    assert "progress" in second
    assert agent.ok("cancel", {"target": req}) == {"cancelled": True}
    reply = agent.wait(req, timeout=10)
    assert reply.ok is False and reply.code == "cancelled"
    assert agent.ok("ping") == {"pong": True}


def test_logs_follow_ends_when_the_container_stops(agent: Agent, make_container) -> None:
    name = make_container("sh", "-c", "sleep 1; echo bye")
    reply = agent.call("container.logs", {"id": name, "follow": True}, timeout=20)
    assert reply.ok is True
    assert [p["line"] for p in reply.progress] == ["bye"]
    assert reply.result["lines"] == 1


def test_stats_report_cpu_memory_and_network(agent: Agent, make_container) -> None:
    name = make_container()
    s = agent.ok("container.stats", {"id": name}, timeout=30)
    assert s["name"] == name
    assert isinstance(s["cpu_percent"], float) and s["cpu_percent"] >= 0
    assert s["mem_usage"] >= 0 and s["mem_limit"] > 0
    assert s["net_rx_bytes"] >= 0 and s["net_tx_bytes"] >= 0


def _spec(test_image: str, **extra) -> dict:
    spec = {"image": test_image, "name": unique("run"), "labels": {TEST_LABEL: "1"}}
    spec.update(extra)
    return spec


def test_run_creates_and_starts_a_container_from_a_full_spec(
    start_agent, docker_host: str, test_image: str, tmp_path
) -> None:
    # The host's policy file must allow the bind (tests/agent/test_policy.py).
    home = tmp_path / "home"
    (home / ".berth").mkdir(parents=True, mode=0o700)
    policy = home / ".berth" / "policy.json"
    policy.write_text(json.dumps({"version": 1, "allowed_bind_prefixes": [str(tmp_path)]}))
    policy.chmod(0o600)
    agent = start_agent(docker_host, {**os.environ, "HOME": str(home)})
    volume = unique("vol")
    spec = _spec(
        test_image,
        command=IDLE_CMD,
        env={"GREETING": "hello world", "EMPTY": ""},
        labels={TEST_LABEL: "1", "team": "web", "tier": "3"},
        ports=[{"private": 80, "public": None, "protocol": "tcp", "ip": "127.0.0.1"}],
        volumes=[
            {"source": str(tmp_path / "data"), "target": "/data", "read_only": True},
            {"source": volume, "target": "/cache"},
        ],
        restart_policy={"name": "on-failure", "max_retries": 3},
        healthcheck={
            "test": ["CMD", "true"],
            "interval_s": 1,
            "timeout_s": 2,
            "retries": 2,
            "start_period_s": 0.5,
        },
        limits={"memory": 64 * 1024 * 1024, "cpus": 0.5},
    )
    result = agent.ok("container.run", spec)
    s = result["summary"]
    assert s["name"] == spec["name"] and s["state"] == "running"
    assert s["labels"]["tier"] == "3"
    raw = json.loads(docker_cli(docker_host, "inspect", spec["name"]).stdout)[0]
    assert "GREETING=hello world" in raw["Config"]["Env"]
    assert raw["Config"]["Cmd"] == IDLE_CMD
    assert "80/tcp" in raw["Config"]["ExposedPorts"]
    assert raw["HostConfig"]["PortBindings"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": ""}]
    assert f"{tmp_path / 'data'}:/data:ro" in raw["HostConfig"]["Binds"]
    assert raw["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert raw["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert raw["HostConfig"]["NanoCpus"] == 500_000_000
    assert raw["Config"]["Healthcheck"]["Test"] == ["CMD", "true"]
    assert raw["Config"]["Healthcheck"]["Interval"] == 1_000_000_000
    docker_cli(docker_host, "rm", "-f", "-v", spec["name"])
    docker_cli(docker_host, "volume", "rm", volume)


def test_run_with_a_missing_image_is_not_found(agent: Agent, docker_host: str) -> None:
    spec = {"image": "berth-test/no-such-image:1", "name": unique("run")}
    assert agent.call("container.run", spec).code == "not_found"
    assert not _exists(docker_host, spec["name"])


def test_run_removes_the_container_when_start_fails(
    agent: Agent, docker_host: str, test_image: str
) -> None:
    spec = _spec(test_image, command=["/no/such/program"])
    reply = agent.call("container.run", spec)
    # dockerd 20.10 answers 400 (invalid parameter) for this; newer engines may say 500.
    assert reply.code in ("invalid_argument", "docker_error"), reply
    assert "no/such/program" in reply.error["message"]
    assert not _exists(docker_host, spec["name"])


def test_run_with_a_taken_name_is_a_conflict(agent: Agent, make_container, test_image: str) -> None:
    name = make_container()
    assert agent.call("container.run", _spec(test_image, name=name)).code == "conflict"


def test_run_with_a_port_already_allocated_is_a_conflict_and_leaves_nothing(
    agent: Agent, docker_host: str, test_image: str
) -> None:
    if docker_cli(docker_host, "network", "inspect", "bridge", check=False).returncode != 0:
        pytest.skip("this dockerd has no bridge network, so ports are never published")
    port = 20000 + int(time.time()) % 20000
    ports = [{"private": 80, "public": port}]
    first = _spec(test_image, command=IDLE_CMD, ports=ports)
    agent.ok("container.run", first)
    second = _spec(test_image, command=IDLE_CMD, ports=ports)
    reply = agent.call("container.run", second)
    assert reply.code == "conflict", reply
    assert not _exists(docker_host, second["name"])
    docker_cli(docker_host, "rm", "-f", first["name"])


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"image": "UPPER/case"}, "args.image"),
        ({"image": "x", "name": "a"}, "args.name"),
        ({"image": "x", "command": "sh -c ls"}, "args.command"),
        ({"image": "x", "command": ["ok", 1]}, "args.command[1]"),
        ({"image": "x", "env": {"A=B": "1"}}, "args.env"),
        ({"image": "x", "env": {"A": 1}}, "args.env"),
        ({"image": "x", "ports": [{"private": 0}]}, "args.ports[0].private"),
        ({"image": "x", "ports": [{"private": 80, "protocol": "sctp"}]}, "protocol"),
        ({"image": "x", "ports": [{"private": 80, "ip": "not-an-ip"}]}, "args.ports[0].ip"),
        ({"image": "x", "ports": [{"private": 80, "extra": 1}]}, "args.ports[0].extra"),
        ({"image": "x", "volumes": [{"source": "/a", "target": "rel"}]}, "target"),
        ({"image": "x", "volumes": [{"source": "/a/../etc", "target": "/x"}]}, "source"),
        ({"image": "x", "volumes": [{"source": "a b", "target": "/x"}]}, "source"),
        ({"image": "x", "restart_policy": {"name": "sometimes"}}, "restart_policy.name"),
        ({"image": "x", "restart_policy": {"name": "always", "max_retries": 2}}, "max_retries"),
        ({"image": "x", "healthcheck": {"test": ["sh"]}}, "healthcheck.test"),
        ({"image": "x", "healthcheck": {"test": ["CMD"]}}, "healthcheck.test"),
        ({"image": "x", "healthcheck": {"test": ["CMD", "true"], "interval_s": -1}}, "interval"),
        ({"image": "x", "limits": {"memory": 1}}, "limits.memory"),
        ({"image": "x", "limits": {"cpus": "2"}}, "limits.cpus"),
        ({"image": "x", "privileged": "yes"}, "args.privileged"),
        ({"image": "x", "pid": "host"}, "args.pid"),
        ({"name": "no-image"}, "args.image"),
    ],
)
def test_run_validates_every_field_with_a_clear_message(agent: Agent, spec, needle) -> None:
    reply = agent.call("container.run", spec)
    assert reply.code == "invalid_argument", reply
    assert needle in reply.error["message"], reply.error["message"]
