#!/usr/bin/env python3
"""Agent round-trip latency against a test host of the fleet (scripts/testbed up).

Measures, each over N runs, p50/p95 of:
  warm       container.list on one long-lived agent session
  fresh      SSH connect + agent start + container.list + close, per call
  cold       SSH connect + agent start until its hello line (part of 'fresh')
  docker-ssh `docker -H ssh://root@HOST ps`, the docker CLI's own SSH transport

and prints them with ratios against the warm session. Results also go to
bench/results/agent_latency.json.  Usage: bench/agent_latency.py [--runs N] [--host h1]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="berth-bench-latency-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")
os.environ.setdefault("BERTH_DEBUG", "true")  # generated secrets
# A throwaway database, migrated: opening a link asks it for the host's policy file
# (none here, as the host has no row), which must not fail on a missing table.
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from agent_link.launch import LinkConfig, Timeouts, open_link  # noqa: E402
from agent_link.ssh import SSHTarget  # noqa: E402
from bench.common import percentiles, write_results  # noqa: E402
from tests.fleet import load_fleet  # noqa: E402

TIMEOUTS = Timeouts(connect=5, start=10, keepalive=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--host", default="h1")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    host = load_fleet()[args.host]
    config = LinkConfig(
        name=host.name,
        transport="ssh",
        docker_host=host.docker_host,
        ssh=SSHTarget(
            address=host.address,
            port=host.port,
            username=host.user,
            private_key=Path(host.private_key).read_text(),
            passphrase="",
            host_key=host.host_key,
        ),
    )

    # Install/upgrade the agent once so no run below pays for an upload.
    open_link(config, TIMEOUTS).close()

    link = open_link(config, TIMEOUTS)
    for _ in range(5):
        link.session.call("container.list", timeout=10)
    warm = []
    for _ in range(max(args.runs, 200)):
        started = time.perf_counter()
        link.session.call("container.list", timeout=10)
        warm.append(time.perf_counter() - started)
    link.close()

    fresh, cold = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        link = open_link(config, TIMEOUTS)
        cold.append(time.perf_counter() - started)
        link.session.call("container.list", timeout=10)
        link.close()
        fresh.append(time.perf_counter() - started)

    docker_ssh = []
    with tempfile.TemporaryDirectory() as scratch:
        # The docker CLI runs `ssh` from PATH; ssh reads ~/.ssh from the passwd entry, not
        # $HOME, so a wrapper hands it this run's key and pinned host key instead.
        tmp = Path(scratch)
        (tmp / "known_hosts").write_text(f"{host.address} {host.host_key}\n")
        (tmp / "config").write_text(
            f"Host {host.address}\n  IdentityFile {host.private_key}\n"
            f"  UserKnownHostsFile {tmp / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        )
        wrapper = tmp / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {tmp / "config"} "$@"\n')
        wrapper.chmod(0o755)
        env = {**os.environ, "PATH": f"{tmp}:{os.environ['PATH']}"}
        env.pop("DOCKER_HOST", None)
        command = ["docker", "-H", f"ssh://{host.user}@{host.address}", "ps"]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=30)
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=30)
            docker_ssh.append(time.perf_counter() - started)

    results = {
        "host": host.name,
        "warm": percentiles(warm),
        "fresh": percentiles(fresh),
        "cold": percentiles(cold),
        "docker-ssh": percentiles(docker_ssh),
    }
    warm_p50 = results["warm"]["p50_ms"]
    print(f"agent round trip on {host.name} ({host.address}), container.list")
    print(f"{'path':<12}{'p50 ms':>10}{'p95 ms':>10}{'runs':>7}{'p50 / warm':>13}")
    for name in ("warm", "fresh", "cold", "docker-ssh"):
        row = results[name]
        ratio = row["p50_ms"] / warm_p50
        print(
            f"{name:<12}{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}{row['runs']:>7}{ratio:>12.0f}x"
        )
    speedup = results["docker-ssh"]["p50_ms"] / warm_p50
    print(f"goal: warm p50 >= 100x faster than docker -H ssh:// -> {speedup:.0f}x "
          f"({'met' if speedup >= 100 else 'NOT met'})")  # fmt: skip
    cold_p50 = results["cold"]["p50_ms"]
    print(f"goal: cold session to hello < 250 ms -> {cold_p50:.0f} ms "
          f"({'met' if cold_p50 < 250 else 'NOT met'})")  # fmt: skip
    write_results("agent_latency", results)


if __name__ == "__main__":
    main()
