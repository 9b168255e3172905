"""service.deploy / service.list / service.remove against a real dockerd and registry.

The demo images (demo/web:v1, v2, v3 whose health check always fails, demo/sleeper:v1) come
from the test fleet's registry. The agent runs inside the engine's network namespace, as it
does on a real host (over SSH), so http/tcp health checks reach the container IPs on the
host's default bridge; published ports are fetched from here at the host's address.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent import helpers
from tests.agent.helpers import IDLE_CMD, TEST_LABEL, Agent, Reply, docker_cli, unique

DEPLOY_TIMEOUT = 120
STEPS = ("pulling", "creating", "starting", "health-checking", "switching", "cleaning-up")


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fleet_host(docker_host: str) -> dict[str, Any] | None:
    """The test fleet's inventory entry of the engine under test (None for another engine)."""
    state = Path(os.environ.get("BERTH_TESTBED_DIR", "/var/lib/berth-testbed"))
    try:
        inventory = json.loads((state / "inventory.json").read_text())
    except (OSError, ValueError):
        return None
    return next((h for h in inventory.get("hosts", []) if h["docker_host"] == docker_host), None)


@pytest.fixture(scope="session")
def web(registry: str) -> str:
    """The demo/web repository in the registry; its tags v1, v2 and v3 must be there."""
    for tag in ("web:v1", "web:v2", "web:v3", "sleeper:v1"):
        repo, _, ref = tag.partition(":")
        req = urllib.request.Request(
            f"http://{registry}/v2/demo/{repo}/manifests/{ref}",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        try:
            _opener().open(req, timeout=10).close()
        except (urllib.error.URLError, OSError) as e:
            pytest.fail(
                f"demo/{tag} is not in the registry {registry} ({e}); "
                "the tests need the test fleet's seeded registry (scripts/testbed up)",
                pytrace=False,
            )
    return f"{registry}/demo/web"


@pytest.fixture
def agent(agent_pyz: Path, docker_host: str, fleet_host, tmp_path: Path, monkeypatch) -> Iterator:
    """An agent in the engine's network namespace (where a real host's agent runs)."""
    if fleet_host is not None:
        wrapper = tmp_path / "python-in-netns"
        netns = f"/run/netns/{fleet_host['netns']}"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter --net={netns} {helpers.PYTHON} "$@"\n')
        wrapper.chmod(0o755)
        monkeypatch.setattr(helpers, "PYTHON", str(wrapper))
    a = Agent(agent_pyz, docker_host)
    yield a
    a.close(timeout=DEPLOY_TIMEOUT)


@pytest.fixture
def service(docker_host: str) -> Iterator[str]:
    """A unique service name; every container of it is removed at the end."""
    name = unique("bt-svc")
    yield name
    _remove_service(docker_host, name)


@pytest.fixture
def host_address(fleet_host) -> str:
    """Where this machine reaches the engine's published ports."""
    return fleet_host["address"] if fleet_host else "127.0.0.1"


@pytest.fixture
def free_host_port() -> Any:
    used: set[int] = set()

    def pick() -> int:
        while True:
            port = random.randint(18000, 18999)
            if port not in used:
                used.add(port)
                return port

    return pick


# --- helpers ----------------------------------------------------------------------------


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _remove_service(docker_host: str, name: str) -> None:
    ids = docker_cli(docker_host, "ps", "-aq", "--filter", f"label=berth.service={name}")
    found = ids.stdout.decode().split()
    if found:
        docker_cli(docker_host, "rm", "-f", *found, check=False)


def spec(image: str, **extra: Any) -> dict[str, Any]:
    return {"image": image, "labels": {TEST_LABEL: "1"}, **extra}


def deploy(agent: Agent, service: str, revision: int, image: str, **args: Any) -> Reply:
    spec_extra = args.pop("spec_extra", {})
    body = {"service": service, "revision": revision, "spec": spec(image, **spec_extra), **args}
    return agent.call("service.deploy", body, timeout=DEPLOY_TIMEOUT)


def containers_of(docker_host: str, service: str) -> list[dict[str, Any]]:
    ids = docker_cli(docker_host, "ps", "-aq", "--filter", f"label=berth.service={service}")
    found = ids.stdout.decode().split()
    if not found:
        return []
    return json.loads(docker_cli(docker_host, "inspect", *found).stdout)


def snapshot(docker_host: str, service: str) -> list[tuple[str, str, str]]:
    """(id, name, state) of every container of the service: 'exactly what the host was'."""
    return sorted(
        (c["Id"], c["Name"].lstrip("/"), c["State"]["Status"])
        for c in containers_of(docker_host, service)
    )


def only_container(docker_host: str, service: str) -> dict[str, Any]:
    found = containers_of(docker_host, service)
    assert len(found) == 1, [c["Name"] for c in found]
    return found[0]


def page_inside(docker_host: str, container: str) -> str:
    r = docker_cli(docker_host, "exec", container, "wget", "-qO-", "http://127.0.0.1/")
    return r.stdout.decode()


def page_at(address: str, port: int, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _opener().open(f"http://{address}:{port}/", timeout=3) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def steps(reply: Reply) -> list[str]:
    """The step names in order, without repeats (pull layers repeat 'pulling')."""
    out: list[str] = []
    for p in reply.progress:
        if p.get("step") and (not out or out[-1] != p["step"]):
            out.append(p["step"])
    return out


def wait_for_step(agent: Agent, req: int, step: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        msg = agent.next_message(req, timeout=max(deadline - time.monotonic(), 0.1))
        assert "progress" in msg, f"{req} ended before {step}: {msg}"
        if msg["progress"].get("step") == step:
            return


def published(port: int) -> list[dict[str, Any]]:
    return [{"private": 80, "public": port}]


# --- deploy -----------------------------------------------------------------------------


def test_deploying_v1_starts_one_healthy_labelled_container_that_serves_v1(
    agent: Agent, service: str, web: str, docker_host: str
) -> None:
    reply = deploy(agent, service, 1, f"{web}:v1")
    assert reply.ok is True, reply
    r = reply.result
    assert re.fullmatch(rf"{service}-r1-[0-9a-f]{{6}}", r["container"]["name"])
    assert r["strategy"] == "start-first" and r["replaced"] == [] and r["health"] == "healthy"
    assert r["image"] == f"{web}:v1"
    c = only_container(docker_host, service)
    assert c["Id"] == r["container"]["id"] and c["Image"] == r["image_id"]
    assert c["Config"]["Labels"]["berth.service"] == service
    assert c["Config"]["Labels"]["berth.revision"] == "1"
    assert c["Config"]["Labels"][TEST_LABEL] == "1"
    assert c["State"]["Health"]["Status"] == "healthy"
    assert "demo web v1" in page_inside(docker_host, c["Id"])
    inspect = docker_cli(
        docker_host, "image", "inspect", "-f", "{{json .RepoDigests}}", web + ":v1"
    )
    assert r["digest"] in json.loads(inspect.stdout)
    assert steps(reply) == ["pulling", "creating", "starting", "health-checking", "switching"]
    for p in reply.progress:
        assert set(p) == {"step", "message"} or (p["step"] == "pulling" and "status" in p), p


def test_deploying_by_digest_skips_the_pull_when_the_image_is_present(
    agent: Agent, service: str, web: str
) -> None:
    first = deploy(agent, service, 1, f"{web}:v1").result
    reply = deploy(agent, service, 2, first["digest"])
    assert reply.ok is True, reply
    assert reply.result["digest"] == first["digest"]
    assert reply.result["image_id"] == first["image_id"]
    pulls = [p for p in reply.progress if p["step"] == "pulling"]
    assert pulls == [{"step": "pulling", "message": f"{first['digest']} is present; not pulling"}]


def test_deploying_v2_over_v1_starts_it_first_and_replaces_v1(
    agent: Agent, service: str, web: str, docker_host: str
) -> None:
    v1 = deploy(agent, service, 1, f"{web}:v1").result
    reply = deploy(agent, service, 2, f"{web}:v2")
    assert reply.ok is True, reply
    assert reply.result["strategy"] == "start-first"
    assert reply.result["replaced"] == [v1["container"]["id"]]
    assert steps(reply) == list(STEPS)
    c = only_container(docker_host, service)
    assert c["Id"] == reply.result["container"]["id"]
    assert c["Config"]["Labels"]["berth.revision"] == "2"
    assert "demo web v2" in page_inside(docker_host, c["Id"])


def test_two_agents_deploying_one_service_take_turns_and_leave_one_container(
    agent: Agent, agent_pyz: Path, service: str, web: str, docker_host: str
) -> None:
    """Each Berth worker has its own agent on a host: two of them deploying the same
    service at once (a convergence racing a late answer) must not leave two containers."""
    other = Agent(agent_pyz, docker_host)
    try:
        body = {"service": service, "revision": 2, "spec": spec(f"{web}:v2")}
        first = agent.start("service.deploy", body)
        wait_for_step(agent, first, "creating")
        second = other.start("service.deploy", body)
        first_reply = agent.wait(first, timeout=DEPLOY_TIMEOUT)
        second_reply = other.wait(second, timeout=DEPLOY_TIMEOUT)
    finally:
        other.close(timeout=DEPLOY_TIMEOUT)
    assert first_reply.ok is True and second_reply.ok is True, (first_reply, second_reply)
    assert steps(second_reply)[0] == "waiting"
    assert second_reply.result["replaced"] == [first_reply.result["container"]["id"]]
    c = only_container(docker_host, service)
    assert c["Id"] == second_reply.result["container"]["id"]


def test_a_v3_that_turns_unhealthy_is_undone_and_v2_keeps_running(
    agent: Agent, service: str, web: str, docker_host: str
) -> None:
    deploy(agent, service, 1, f"{web}:v1")
    v2 = deploy(agent, service, 2, f"{web}:v2").result
    before = snapshot(docker_host, service)
    reply = deploy(agent, service, 3, f"{web}:v3")
    assert reply.code == "health_check_failed", reply
    assert re.match(
        rf"container {service}-r3-[0-9a-f]{{6}} became unhealthy: ", reply.error["message"]
    )
    assert "404" in reply.error["message"]
    assert steps(reply)[-2:] == ["health-checking", "rolling-back"]
    assert snapshot(docker_host, service) == before
    assert before == [(v2["container"]["id"], v2["container"]["name"], "running")]
    assert "demo web v2" in page_inside(docker_host, v2["container"]["id"])


def test_a_fixed_host_port_deploys_stop_first_and_a_failed_v3_brings_v2_back(
    agent: Agent, service: str, web: str, docker_host: str, host_address: str, free_host_port
) -> None:
    port = free_host_port()
    v1 = deploy(agent, service, 1, f"{web}:v1", spec_extra={"ports": published(port)})
    assert v1.ok is True, v1
    assert v1.result["strategy"] == "stop-first"
    assert "demo web v1" in page_at(host_address, port)

    v2 = deploy(agent, service, 2, f"{web}:v2", spec_extra={"ports": published(port)})
    assert v2.ok is True, v2
    assert v2.result["strategy"] == "stop-first"
    assert v2.result["replaced"] == [v1.result["container"]["id"]]
    assert "demo web v2" in page_at(host_address, port)
    before = snapshot(docker_host, service)

    v3 = deploy(agent, service, 3, f"{web}:v3", spec_extra={"ports": published(port)})
    assert v3.code == "health_check_failed", v3
    rollback = [p["message"] for p in v3.progress if p["step"] == "rolling-back"]
    assert len(rollback) == 1 and f"starting {v2.result['container']['name']} again" in rollback[0]
    assert snapshot(docker_host, service) == before
    assert "demo web v2" in page_at(host_address, port)


def test_a_host_port_already_allocated_is_a_conflict_and_the_old_revision_comes_back(
    agent: Agent,
    service: str,
    web: str,
    docker_host: str,
    host_address: str,
    free_host_port,
    make_container,
) -> None:
    port, taken = free_host_port(), free_host_port()
    make_container(*IDLE_CMD, opts=("-p", f"{taken}:80"))
    v1 = deploy(agent, service, 1, f"{web}:v1", spec_extra={"ports": published(port)})
    assert v1.ok is True, v1
    before = snapshot(docker_host, service)
    ports = [*published(port), {"private": 81, "public": taken}]
    reply = deploy(agent, service, 2, f"{web}:v2", spec_extra={"ports": ports})
    assert reply.code == "conflict", reply
    assert "already allocated" in reply.error["message"]
    assert snapshot(docker_host, service) == before
    assert "demo web v1" in page_at(host_address, port)


@pytest.mark.parametrize("mode", ["http", "tcp"])
def test_http_and_tcp_health_checks_pass_against_v1(
    agent: Agent, service: str, web: str, docker_host: str, mode: str
) -> None:
    reply = deploy(agent, service, 1, f"{web}:v1", health={"mode": mode, "port": 80})
    assert reply.ok is True, reply
    assert reply.result["health"] == "healthy"
    assert only_container(docker_host, service)["State"]["Status"] == "running"


@pytest.mark.parametrize("mode", ["http", "tcp"])
def test_http_and_tcp_health_checks_fail_against_a_port_nothing_listens_on(
    agent: Agent, service: str, web: str, docker_host: str, mode: str
) -> None:
    health = {"mode": mode, "port": 81, "interval_s": 0.2, "retries": 2}
    reply = deploy(agent, service, 1, f"{web}:v1", health=health)
    assert reply.code == "health_check_failed", reply
    target = "http://" if mode == "http" else "tcp://"
    assert f"failed 2 time(s) in a row: {target}172." in reply.error["message"]
    assert ":81" in reply.error["message"] and "refused the connection" in reply.error["message"]
    assert snapshot(docker_host, service) == []


def test_an_http_health_check_that_answers_404_fails_naming_the_status(
    agent: Agent, service: str, web: str, docker_host: str
) -> None:
    health = {"mode": "http", "port": 80, "path": "/nope", "interval_s": 0.2, "retries": 3}
    reply = deploy(agent, service, 1, f"{web}:v1", health=health)
    assert reply.code == "health_check_failed", reply
    assert re.search(r"http://[0-9.]+:80/nope answered 404$", reply.error["message"])
    assert snapshot(docker_host, service) == []


def test_without_a_health_check_the_container_must_keep_running(
    agent: Agent, service: str, registry: str, web: str, docker_host: str
) -> None:
    sleeper = f"{registry}/demo/sleeper:v1"
    health = {"interval_s": 0.5, "retries": 2}
    ok = deploy(agent, service, 1, sleeper, health=health)
    assert ok.ok is True and ok.result["health"] == "running", ok
    before = snapshot(docker_host, service)
    crash = {"command": ["sh", "-c", "echo boom; exit 3"]}
    reply = deploy(agent, service, 2, sleeper, health=health, spec_extra=crash)
    assert reply.code == "health_check_failed", reply
    assert "exited with code 3" in reply.error["message"] and "boom" in reply.error["message"]
    assert snapshot(docker_host, service) == before


def test_health_mode_none_is_satisfied_by_a_running_container(
    agent: Agent, service: str, registry: str
) -> None:
    reply = deploy(agent, service, 1, f"{registry}/demo/sleeper:v1", health={"mode": "none"})
    assert reply.ok is True and reply.result["health"] == "running", reply


def test_a_missing_image_is_not_found_and_changes_nothing(
    agent: Agent, service: str, registry: str, web: str, docker_host: str
) -> None:
    deploy(agent, service, 1, f"{web}:v1")
    before = snapshot(docker_host, service)
    reply = deploy(agent, service, 2, f"{registry}/demo/no-such-image:v1")
    assert reply.code == "not_found", reply
    assert snapshot(docker_host, service) == before


# --- cancel and EOF ---------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["start-first", "stop-first"])
def test_a_cancel_during_the_health_gate_undoes_the_deploy(
    agent: Agent, service: str, web: str, docker_host: str, free_host_port, strategy: str
) -> None:
    extra = {"ports": published(free_host_port())} if strategy == "stop-first" else {}
    v1 = deploy(agent, service, 1, f"{web}:v1", spec_extra=extra)
    assert v1.ok is True, v1
    before = snapshot(docker_host, service)
    slow = {"mode": "http", "port": 81, "timeout_s": 300, "interval_s": 0.5, "retries": 1000}
    req = agent.start(
        "service.deploy",
        {"service": service, "revision": 2, "spec": spec(f"{web}:v2", **extra), "health": slow},
    )
    wait_for_step(agent, req, "health-checking")
    assert len(containers_of(docker_host, service)) == 2
    assert agent.ok("cancel", {"target": req}) == {"cancelled": True}
    reply = agent.wait(req, timeout=30)
    assert reply.code == "cancelled", reply
    assert "back to its previous state" in reply.error["message"]
    assert snapshot(docker_host, service) == before


def test_stdin_eof_mid_deploy_finishes_the_deploy_before_the_agent_exits(
    agent: Agent, service: str, registry: str, web: str, docker_host: str
) -> None:
    deploy(agent, service, 1, f"{web}:v1")
    # No health check: the container must run interval_s * retries = 7 s, longer than the
    # 5 s the agent gives ordinary ops after EOF.
    req = agent.start(
        "service.deploy",
        {
            "service": service,
            "revision": 2,
            "spec": spec(f"{registry}/demo/sleeper:v1"),
            "health": {"interval_s": 1, "retries": 7},
        },
    )
    wait_for_step(agent, req, "health-checking")
    agent.proc.stdin.close()
    reply = agent.wait(req, timeout=60)
    assert agent.proc.wait(timeout=60) == 0
    assert reply.ok is True, reply
    c = only_container(docker_host, service)
    assert c["Id"] == reply.result["container"]["id"]
    assert c["Config"]["Labels"]["berth.revision"] == "2" and c["State"]["Running"]


def test_a_dropped_connection_mid_deploy_still_undoes_a_failing_deploy_and_exits_0(
    agent_pyz: Path, agent: Agent, service: str, web: str, docker_host: str, fleet_host
) -> None:
    v1 = deploy(agent, service, 1, f"{web}:v1").result
    before = snapshot(docker_host, service)
    argv = [helpers.PYTHON, "-I", "-S", str(agent_pyz), "serve", "--docker-host", docker_host]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        health = {"mode": "http", "port": 81, "interval_s": 1, "retries": 7}
        request = {
            "id": 1,
            "op": "service.deploy",
            "args": {
                "service": service,
                "revision": 2,
                "spec": spec(f"{web}:v2"),
                "health": health,
            },
        }
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        for raw in proc.stdout:
            if json.loads(raw).get("progress", {}).get("step") == "health-checking":
                break
        # The SSH connection drops: no more stdin, and nobody reads stdout (EPIPE).
        proc.stdin.close()
        proc.stdout.close()
        assert proc.wait(timeout=60) == 0
        stderr = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr, stderr
    assert snapshot(docker_host, service) == before
    assert before == [(v1["container"]["id"], v1["container"]["name"], "running")]


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"service": "Web!"}, "args.service"),
        ({"service": None}, "args.service"),
        ({"service": "a" * 64}, "args.service"),
        ({"revision": 0}, "args.revision"),
        ({"revision": "3"}, "args.revision"),
        ({"spec": None}, "args.spec"),
        ({"spec": {"image": "x/y:1", "name": "fixed"}}, "args.spec.name"),
        ({"spec": {"image": "Not A Ref"}}, "args.spec.image"),
        ({"spec": {"image": "x/y:1", "labels": {"berth.revision": "9"}}}, "args.spec.labels"),
        ({"spec": {"image": "x/y:1", "ports": [{"public": 80}]}}, "args.spec.ports[0].private"),
        ({"spec": {"image": "x/y:1", "env": {"A B": "1"}}}, "args.spec.env"),
        ({"spec": {"image": "x/y:1", "bogus": 1}}, "args.spec.bogus"),
        ({"health": {"mode": "ping"}}, "args.health.mode"),
        ({"health": {"mode": "http"}}, "args.health.port"),
        ({"health": {"mode": "http", "port": 80, "path": "no-slash"}}, "args.health.path"),
        ({"health": {"timeout_s": 0}}, "args.health.timeout_s"),
        ({"health": {"retries": 0}}, "args.health.retries"),
        ({"auth": {"username": "u"}}, "args.auth.password"),
        ({"stop_timeout": -1}, "args.stop_timeout"),
        ({"bogus": 1}, "args.bogus"),
    ],
)
def test_invalid_deploy_arguments_are_refused_naming_the_field(
    agent: Agent, service: str, web: str, docker_host: str, change: dict, field: str
) -> None:
    args: dict[str, Any] = {"service": service, "revision": 1, "spec": spec(f"{web}:v1")}
    args.update(change)
    args = {k: v for k, v in args.items() if v is not None}
    reply = agent.call("service.deploy", args)
    assert reply.code == "invalid_argument", reply
    assert field in reply.error["message"], reply.error["message"]
    assert not reply.progress
    assert snapshot(docker_host, service) == []


# --- list, remove -----------------------------------------------------------------------


def test_service_list_shows_the_containers_of_services_and_remove_deletes_them(
    agent: Agent, service: str, registry: str, web: str, docker_host: str
) -> None:
    other = f"{service}-b"
    try:
        web1 = deploy(agent, service, 4, f"{web}:v1").result
        sleeper = deploy(agent, other, 1, f"{registry}/demo/sleeper:v1", health={"mode": "none"})
        docker_cli(docker_host, "stop", "-t", "1", sleeper.result["container"]["id"])

        listed = agent.ok("service.list", {"service": service})
        assert [c["id"] for c in listed] == [web1["container"]["id"]]
        c = listed[0]
        assert set(c) == {
            "id", "name", "service", "revision", "state", "health", "image", "image_id", "created"
        }  # fmt: skip
        assert c["name"] == web1["container"]["name"] and c["service"] == service
        assert c["revision"] == 4 and c["state"] == "running" and c["health"] == "healthy"
        assert c["image"] == f"{web}:v1" and c["image_id"] == web1["image_id"]
        assert isinstance(c["created"], int)

        everything = {c["service"]: c for c in agent.ok("service.list")}
        assert everything[other]["state"] == "exited" and everything[other]["revision"] == 1
        assert everything[service]["id"] == c["id"]

        removed = agent.ok("service.remove", {"service": service, "stop_timeout": 5})
        assert removed == {"removed": [web1["container"]["id"]]}
        assert agent.ok("service.list", {"service": service}) == []
        assert agent.ok("service.remove", {"service": other}) == {
            "removed": [sleeper.result["container"]["id"]]
        }
        assert containers_of(docker_host, other) == []
        assert agent.ok("service.remove", {"service": service}) == {"removed": []}
        assert agent.call("service.remove", {"service": "Bad!"}).code == "invalid_argument"
        assert agent.call("service.list", {"service": 7}).code == "invalid_argument"
    finally:
        _remove_service(docker_host, other)
