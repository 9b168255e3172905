"""Smoke test of the production stack (docker-compose.yml, started by `scripts/stack up`
from images built without Docker Hub): an admin logs in, registers the test fleet's
hosts (the stack's workers reach them from the stack's network), deploys a service
and rolls it back, reads /readyz and /metrics; a worker killed by SIGKILL is restarted
by its restart policy and serves again; `--scale worker=3` works.

Everything the test makes on the shared test fleet carries a random prefix, so it
cannot meet another test's hosts or services, and its containers are removed after."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fleet import Fleet, load_fleet, run_testbed, wait_for

from .support import compose, engine, private_key

FINISHED = {"succeeded", "partial", "failed", "rolled_back", "cancelled"}
PREFIX = f"stack-{secrets.token_hex(3)}"
OUR_SERVICES = re.compile(r"stack-[0-9a-f]{6}-web")


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    loaded = load_fleet()
    run_testbed("status")
    return loaded


@pytest.fixture(scope="session")
def base_url(stack_info: dict[str, Any]) -> str:
    return str(stack_info["url"])


class Api:
    """Berth's API on the stack, with the admin's token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v1/{path}"
        answer = self.session.request(method, url, timeout=30, **kwargs)
        assert answer.status_code < 400, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, json=body)

    def follow(self, rollout: dict[str, Any]) -> dict[str, Any]:
        """The rollout, once it has finished."""

        def finished() -> dict[str, Any] | None:
            current: dict[str, Any] = self.get(f"rollouts/{rollout['id']}/")
            return current if current["status"] in FINISHED else None

        return wait_for(finished, timeout=180, interval=1, what=f"rollout #{rollout['id']}")


@pytest.fixture(scope="session")
def api(base_url: str) -> Iterator[Api]:
    """Logged in through the login form as the admin `ensure_admin` made, then holding an
    API token that login issued."""
    out = compose("exec", "-T", "web", "python", "manage.py", "ensure_admin")
    match = re.search(r"Username: (\S+)\s+Password: (\S+)", out)
    # The first admin's password is shown once: the stack must be fresh (`scripts/stack up`).
    assert match, f"ensure_admin printed no password: {out!r}"
    username, password = match.groups()

    browser = requests.Session()
    assert browser.get(f"{base_url}/login/", timeout=10).status_code == 200
    answer = browser.post(
        f"{base_url}/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    me = browser.get(f"{base_url}/api/v1/me/", timeout=10)
    assert me.status_code == 200 and me.json()["username"] == username, me.text
    answer = browser.post(
        f"{base_url}/api/v1/tokens/",
        json={"name": f"{PREFIX} smoke test"},
        headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{base_url}/"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    browser.close()
    api = Api(base_url, answer.json()["token"])
    yield api
    api.session.close()


def containers_on(fleet: Fleet, host: str, service: str) -> list[dict[str, str]]:
    template = '{{.ID}} {{.State}} {{.Label "berth.revision"}}'
    selector = f"label=berth.service={service}"
    out = fleet[host].docker("ps", "-a", "--filter", selector, "--format", template).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [{"id": r[0], "state": r[1], "revision": r[2]} for r in rows]


@pytest.fixture(scope="session")
def hosts(api: Api, fleet: Fleet) -> Iterator[dict[str, int]]:
    """h1..h3 registered through the API under names no other test uses."""
    ids: dict[str, int] = {}
    for host in fleet.hosts[:3]:
        created = api.post(
            "hosts/",
            {
                "name": f"{PREFIX}-{host.name}",
                "address": host.address,
                "port": host.port,
                "username": host.user,
                "private_key": private_key(host.private_key),
                "host_key": host.host_key,
                "docker_host": host.docker_host,
            },
        )
        ids[host.name] = created["id"]
    for name, pk in ids.items():
        wait_for(
            lambda pk=pk: api.get(f"hosts/{pk}/")["status"] == "online",
            timeout=120,
            interval=1,
            what=f"{PREFIX}-{name} to come online (reached by the stack's workers)",
        )
    yield ids
    for pk in ids.values():
        api.session.delete(f"{api.base_url}/api/v1/hosts/{pk}/", timeout=30)


@pytest.fixture(scope="session")
def service_name(fleet: Fleet) -> Iterator[str]:
    yield f"{PREFIX}-web"
    # Berth first: a worker still running would converge the service again, putting back
    # the containers removed below. Then every container of this test's services, also
    # those an interrupted earlier run left.
    compose("stop", "--timeout", "30", "worker", "beat", "watcher", timeout=300)
    template = '{{.ID}} {{.Label "berth.service"}}'
    for host in fleet.hosts[:3]:
        listed = host.docker("ps", "-a", "--filter", "label=berth.service", "--format", template)
        for line in listed.stdout.splitlines():
            container, _, service = line.partition(" ")
            if OUR_SERVICES.fullmatch(service):
                host.docker("rm", "-f", container, check=False)
        assert not containers_on(fleet, host.name, f"{PREFIX}-web"), host.name


def test_deploy_and_roll_back_through_the_stack(api, fleet, hosts, service_name):
    service = api.post("services/", {"name": service_name, "hosts": list(hosts.values())})
    numbers = {}
    for tag in ("v1", "v2"):
        spec = {"image": f"{fleet.registry}/demo/web:{tag}"}
        revision = api.post(f"services/{service['id']}/revisions/", {"spec": spec, "note": tag})
        rollout = api.follow(api.post(f"services/{service['id']}/deploy/", {}))
        assert rollout["status"] == "succeeded", rollout
        numbers[tag] = revision["number"]
        for name in hosts:
            (container,) = containers_on(fleet, name, service_name)
            assert container["state"] == "running"
            assert container["revision"] == str(revision["number"]), container

    back = {"revision": numbers["v1"]}
    rollout = api.follow(api.post(f"services/{service['id']}/rollback/", back))
    assert rollout["status"] == "succeeded", rollout
    revisions = api.get(f"services/{service['id']}/revisions/")["results"]
    first = next(r for r in revisions if r["number"] == numbers["v1"])
    assert first["digest"].startswith(f"{fleet.registry}/demo/web@sha256:")
    for name in hosts:
        (container,) = containers_on(fleet, name, service_name)
        assert container["state"] == "running"
        assert container["revision"] == str(numbers["v1"])
        image = fleet[name].docker("inspect", "-f", "{{.Config.Image}}", container["id"]).stdout
        assert image.strip() == first["digest"]  # rolled back by the pinned digest


def test_readyz_and_metrics(base_url, hosts):
    ready = requests.get(f"{base_url}/readyz", timeout=15)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) >= {"database", "redis"}, body

    metrics = requests.get(f"{base_url}/metrics", timeout=15)
    assert metrics.status_code == 200, metrics.text
    online = re.search(r'^berth_hosts\{status="online"\} (\S+)$', metrics.text, re.MULTILINE)
    assert online, metrics.text[:2000]
    assert float(online.group(1)) >= len(hosts)
    assert "berth_operations" in metrics.text


def worker_containers(docker_host: str) -> list[dict[str, Any]]:
    ids = compose("ps", "-q", "worker").split()
    return list(json.loads(engine(docker_host, "inspect", *ids))) if ids else []


def ping_workers(docker_host: str, container: str, destination: str | None = None) -> str:
    args = ["celery", "-A", "berth", "inspect", "ping", "--timeout", "10"]
    if destination:
        args += ["--destination", destination]
    return engine(docker_host, "exec", container, *args)


def test_worker_killed_is_restarted_by_its_policy(docker_host, base_url):
    (worker, *_) = worker_containers(docker_host)
    assert worker["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    pid, restarts = worker["State"]["Pid"], worker["RestartCount"]
    os.kill(pid, signal.SIGKILL)  # a crash, not `docker stop`: the policy must bring it back

    def restarted() -> dict[str, Any] | None:
        (now,) = json.loads(engine(docker_host, "inspect", worker["Id"]))
        running = now["State"]["Running"] and now["State"]["Pid"] not in (0, pid)
        return now if running and now["RestartCount"] == restarts + 1 else None

    wait_for(restarted, timeout=60, interval=0.5, what="Docker to restart the killed worker")
    hostname = f"celery@{worker['Config']['Hostname']}"
    wait_for(
        lambda: _answers(docker_host, worker["Id"], hostname),
        timeout=90,
        interval=2,
        what=f"the restarted worker {hostname} to answer",
    )
    assert requests.get(f"{base_url}/readyz", timeout=15).status_code == 200


def _answers(docker_host: str, container: str, destination: str) -> bool:
    try:
        return f"{destination}: OK" in ping_workers(docker_host, container, destination)
    except AssertionError:
        return False


def test_scale_to_three_workers(docker_host):
    compose("up", "--detach", "--no-build", "--scale", "worker=3", timeout=300)
    workers = wait_for(
        lambda: w if len(w := worker_containers(docker_host)) == 3 else None,
        timeout=60,
        what="three worker containers",
    )
    names = {f"celery@{w['Config']['Hostname']}" for w in workers}

    def all_answer() -> bool:
        try:
            out = ping_workers(docker_host, workers[0]["Id"])
        except AssertionError:
            return False
        return all(f"{name}: OK" in out for name in names)

    wait_for(all_answer, timeout=120, interval=2, what=f"{sorted(names)} to answer a ping")


def test_every_service_becomes_healthy(docker_host):
    """Each long-running service's own health check passes (beat's first runs after 60 s)."""

    def unhealthy() -> list[str]:
        ids = compose("ps", "-q").split()
        bad = []
        for container in json.loads(engine(docker_host, "inspect", *ids)):
            service = container["Config"]["Labels"]["com.docker.compose.service"]
            if service == "migrate":
                assert container["State"]["ExitCode"] == 0
                continue
            status = container["State"].get("Health", {}).get("Status")
            if status != "healthy":
                bad.append(f"{service} ({container['Name']}): {status}")
        return bad

    deadline = time.monotonic() + 150
    while (bad := unhealthy()) and time.monotonic() < deadline:
        time.sleep(3)
    assert not bad, bad
