#!/usr/bin/env python3
"""Wall time of a v1 -> v2 rollout of demo/web to N test hosts (N = 1 and 3, all hosts
in one batch), against the same steps done host after host with the docker CLI's own
SSH transport (`docker -H ssh://…` pull, run, stop, rm).

Berth runs in-process here (tasks eager, a throwaway SQLite database), so the figures
are the rollout itself: SSH sessions, agent ops, health gates. Runs each case
--runs times and reports the median. Results also go to bench/results/deploy.json.
Needs the test fleet: scripts/testbed up 3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="berth-bench-deploy-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "BERTH_DEBUG": os.environ.get("BERTH_DEBUG", "true"),  # generated secrets
        "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}",
        "BERTH_TASKS_EAGER": "true",
        "BERTH_LOG_LEVEL": "WARNING",
    }
)
sys.path.insert(0, str(REPO))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from agent_link.pool import pool  # noqa: E402
from bench.common import write_results  # noqa: E402
from deployments import services as deployments  # noqa: E402
from deployments.models import Service  # noqa: E402
from hosts import services as hosts  # noqa: E402
from hosts.agent import HostAgent  # noqa: E402
from tests.fleet import load_fleet  # noqa: E402


def berth_rollouts(fleet, names: list[str], runs: int, health: dict) -> list[float]:
    key = hosts.create_ssh_key(
        name=f"bench {uuid.uuid4().hex[:6]}",
        private_key=Path(fleet[names[0]].private_key).read_text(),
    )
    registered = [
        hosts.register_host(
            name=f"bench-{name}-{uuid.uuid4().hex[:4]}",
            address=fleet[name].address,
            ssh_key=key,
            host_key=fleet[name].host_key,
            docker_host=fleet[name].docker_host,
        )
        for name in names
    ]
    service = Service.objects.create(name=f"bench-{uuid.uuid4().hex[:6]}")
    service.hosts.set(registered)
    revisions = [
        deployments.create_revision(
            service, spec={"image": f"{fleet.registry}/demo/web:{tag}"}, health=health
        )
        for tag in ("v1", "v2")
    ]
    deployments.request_deploy(service, revisions[0], actor=None)  # warm: sessions, images pulled
    times = []
    for index in range(runs):
        target = revisions[(index + 1) % 2]
        started = time.perf_counter()
        rollout = deployments.request_deploy(service, target, actor=None)
        times.append(time.perf_counter() - started)
        rollout.refresh_from_db()
        if rollout.status != "succeeded":
            raise SystemExit(f"rollout failed: {rollout.reason}")
    for host in registered:
        HostAgent(host).call("service.remove", {"service": service.name}, timeout=60)
    pool.close_all()
    return times


def cli_rollouts(fleet, names: list[str], runs: int) -> list[float]:
    scratch = WORK / "ssh"
    scratch.mkdir(exist_ok=True)
    known = scratch / "known_hosts"
    known.write_text("".join(f"{fleet[n].address} {fleet[n].host_key}\n" for n in names))
    (scratch / "config").write_text(
        "".join(
            f"Host {fleet[n].address}\n  IdentityFile {fleet[n].private_key}\n"
            f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n"
            for n in names
        )
    )
    wrapper = scratch / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {scratch / "config"} "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{scratch}:{os.environ['PATH']}"}
    env.pop("DOCKER_HOST", None)

    def docker(name: str, *args: str) -> None:
        url = f"ssh://root@{fleet[name].address}"
        subprocess.run(["docker", "-H", url, *args], env=env, check=True, capture_output=True)

    prefix = f"bench-cli-{uuid.uuid4().hex[:6]}"
    current = {name: f"{prefix}-0" for name in names}
    for name in names:
        docker(name, "run", "-d", "--name", current[name], f"{fleet.registry}/demo/web:v1")
    times = []
    for index in range(runs):
        image = f"{fleet.registry}/demo/web:{'v2' if index % 2 == 0 else 'v1'}"
        started = time.perf_counter()
        for name in names:
            new = f"{prefix}-{index + 1}"
            docker(name, "pull", image)
            docker(name, "run", "-d", "--name", new, image)
            docker(name, "stop", current[name])
            docker(name, "rm", current[name])
            current[name] = new
        times.append(time.perf_counter() - started)
    for name in names:
        docker(name, "rm", "-f", current[name])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    fleet = load_fleet()
    results: dict[str, dict[str, float]] = {}
    single, trio = ["h1"], ["h1", "h2", "h3"]
    gates = {"HEALTHCHECK gate": {"mode": "docker"}, "no gate": {"mode": "none"}}
    cases: list[tuple[str, Callable[[], list[float]]]] = []
    for gate, health in gates.items():
        for names in (single, trio):
            label = f"berth {len(names)} host{'s' if len(names) > 1 else ''} ({gate})"
            cases.append((label, partial(berth_rollouts, fleet, names, args.runs, health)))
    for names in (single, trio):
        label = f"docker CLI over ssh, {len(names)} host{'s' if len(names) > 1 else ''}"
        cases.append((label, partial(cli_rollouts, fleet, names, args.runs)))
    for name, run in cases:
        samples = run()
        results[name] = {"median_s": statistics.median(samples), "min_s": min(samples),
                         "runs": len(samples)}  # fmt: skip
    print(f"{'v1 -> v2 rollout':<36}{'median s':>10}{'min s':>9}{'runs':>6}")
    for name, row in results.items():
        print(f"{name:<36}{row['median_s']:>10.2f}{row['min_s']:>9.2f}{row['runs']:>6}")
    for gate in ("HEALTHCHECK gate", "no gate"):
        one = results[f"berth 1 host ({gate})"]["median_s"]
        three = results[f"berth 3 hosts ({gate})"]["median_s"]
        cli = results["docker CLI over ssh, 3 hosts"]["median_s"]
        print(f"{gate}: 3 hosts / 1 host = {three / one:.2f} (goal <= 1.5); "
              f"CLI 3 hosts / berth 3 hosts = {cli / three:.1f}x (goal >= 3)")  # fmt: skip
    write_results("deploy", results)


if __name__ == "__main__":
    main()
