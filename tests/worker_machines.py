"""Worker machines on the test bed: Berth workers that run as if on machines of their own.

A machine is a network namespace (``berth-wm<N>``) joined to the root namespace by a
veth (198.19.<N>.2 inside, 198.19.<N>.1 outside), with its processes in a UTS
namespace of their own, so each has its own host name (``wm<N>``), as Celery and
Berth's claims see it. Its workers reach Redis and PostgreSQL over that veth, at
198.19.0.1: the session's Redis and the PostgreSQL cluster listen on loopback only,
so a socat forwarder on the root side relays each port there. They reach the test
hosts' sshd through the root namespace, which routes between the veths (each host
gets a route back to 198.19.0.0/16 while machines exist).

Losing a machine is ``kill()``: SIGKILL to every process in its namespace at once,
as a power cut or a kernel panic would end them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fleet import REPO, Fleet

SERVICES_IP = "198.19.0.1"
MACHINES_NET = "198.19.0.0/16"
NETNS_PREFIX = "berth-wm"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_pids(netns: str) -> list[int]:
    out = _ip("netns", "pids", netns, check=False).stdout
    return [int(pid) for pid in out.split()]


@dataclass
class Machine:
    index: int
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def hostname(self) -> str:
        return f"wm{self.index}"

    @property
    def link(self) -> str:
        return f"bwm{self.index}"

    def create(self) -> None:
        ns = ["-n", self.netns]
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.link, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        _ip("addr", "add", f"198.19.{self.index}.1/30", "dev", self.link)
        _ip("link", "set", self.link, "up")
        _ip(*ns, "addr", "add", f"198.19.{self.index}.2/30", "dev", "eth0")
        _ip(*ns, "link", "set", "eth0", "up")
        _ip(*ns, "link", "set", "lo", "up")
        _ip(*ns, "route", "add", "default", "via", f"198.19.{self.index}.1")

    def start(self, argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
        """Run ``argv`` on this machine: in its network namespace, under its host name."""
        log_path = self.workdir / f"{self.hostname}-{log_name}.log"
        # unshare --uts gives the process tree a host name of its own; `hostname` sets it
        # inside that namespace only.
        wrapped = [
            "ip", "netns", "exec", self.netns, "unshare", "--uts", "--",
            "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname, *argv,
        ]  # fmt: skip
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                wrapped, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def kill(self) -> list[int]:
        """SIGKILL every process on the machine at once; return their pids."""
        pids = netns_pids(self.netns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # ended on its own meanwhile
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            process.wait(10)
        return pids

    def destroy(self) -> None:
        self.kill()
        _ip("link", "del", self.link, check=False)
        _ip("netns", "del", self.netns, check=False)


def remove_leftovers() -> None:
    """Machines, forwarders and routes a killed test run left behind."""
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line else ""
        if name.startswith(NETNS_PREFIX) and name[len(NETNS_PREFIX) :].isdigit():
            Machine(int(name[len(NETNS_PREFIX) :]), Path("/tmp")).destroy()
    _ip("addr", "del", f"{SERVICES_IP}/32", "dev", "lo", check=False)
    subprocess.run(["pkill", "-f", f"socat TCP-LISTEN:[0-9]+,bind={SERVICES_IP}"], check=False)


class Forwarder:
    """socat relaying SERVICES_IP:<port> to a port on the root namespace's loopback."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        binary = shutil.which("socat")
        if binary is None:
            pytest.fail("socat is not installed (apt-get install socat, or scripts/bootstrap test)")
        self.process = subprocess.Popen(
            [binary, f"TCP-LISTEN:{target_port},bind={SERVICES_IP},reuseaddr,fork",
             f"TCP:127.0.0.1:{target_port}"],
        )  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class WorkerMachines:
    """The machines of one test, and the network they share with the fleet's hosts."""

    def __init__(self, fleet: Fleet, workdir: Path, count: int) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.machines = [Machine(index, workdir) for index in range(1, count + 1)]
        self.forwarders: list[Forwarder] = []

    def __enter__(self) -> WorkerMachines:
        remove_leftovers()
        _ip("addr", "add", f"{SERVICES_IP}/32", "dev", "lo")
        for machine in self.machines:
            machine.create()
        for host in self.fleet.raw["hosts"]:
            gateway = host["address"].rsplit(".", 1)[0] + ".1"
            _ip("-n", host["netns"], "route", "replace", MACHINES_NET, "via", gateway)
        return self

    def forward(self, port: int) -> None:
        self.forwarders.append(Forwarder(port))

    def __exit__(self, *exc: object) -> None:
        for machine in self.machines:
            machine.destroy()
        for forwarder in self.forwarders:
            forwarder.stop()
        for host in self.fleet.raw["hosts"]:
            _ip("-n", host["netns"], "route", "del", MACHINES_NET, check=False)
        _ip("addr", "del", f"{SERVICES_IP}/32", "dev", "lo", check=False)

    def via_services_ip(self, url: str) -> str:
        """``url`` (redis:// or postgres:// on 127.0.0.1) as a machine reaches it."""
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc.replace(f"127.0.0.1:{parts.port}", f"{SERVICES_IP}:{parts.port}")
        assert netloc != parts.netloc, f"{url} is not on 127.0.0.1"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def start_worker(self, machine: Machine, env: dict[str, str], queues: str) -> None:
        machine.start(
            [sys.executable, "-m", "celery", "-A", "berth", "worker", "--pool", "prefork",
             "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--queues", queues, "-n", f"machine@{machine.hostname}"],
            env,
            "worker",
        )  # fmt: skip
