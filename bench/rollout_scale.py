#!/usr/bin/env python3
"""A v1 -> v2 rollout of a service without published ports (demo/web, health-gated) to
the 100 light hosts of `scripts/testbed scale 100 --engines`, each
with a dockerd of its own: Berth with batches of 10 and 25, beside Ansible
(`community.docker.docker_container`, then `uri` until the container answers; forks
10 and 50, pipelining on) making the same image change on the same hosts, in the same
run. The gate is the same for both: the new container must answer HTTP; the image's
HEALTHCHECK is off for both.

Then two failures across the fleet:

- a revision whose health check never passes (a page the image does not serve),
  batches of 10: how long until the rollout has stopped and the first batch is back
  on v2 (the rest never left it);
- an automatic fleet-wide rollback: a revision the last batch's hosts cannot pull
  (their route to the registry is cut), batches of 10, so the first 90 hosts switch
  before the failure, then every one of them is put back: time from the start to the
  last host back on the previous revision.

Every timed run pulls its new image (removed from the hosts beforehand), and both
tools start warm: Berth's SSH sessions come from registering the hosts and the first
deploy, Ansible's from its own first run (ControlPersist). After each run every
host is checked through its own dockerd: exactly one container of the service,
running the new image. Berth runs in-process (tasks eager) against PostgreSQL
(`scripts/postgres up`, database berth_bench, emptied first), as one rollout task
runs in a worker. Results also go to bench/results/rollout_scale.json.
Needs the test fleet (scripts/testbed up 3) and `scripts/bootstrap bench`
(Ansible in .venv/ansible).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="berth-bench-rollout-"))
ANSIBLE = REPO / ".venv" / "ansible" / "bin"


def postgres_url() -> str:
    env = {**os.environ, "BERTH_POSTGRES_DB": "berth_bench"}
    script = REPO / "scripts" / "postgres"
    return subprocess.run(
        [str(script), "up"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "BERTH_DEBUG": os.environ.get("BERTH_DEBUG", "true"),  # generated secrets
        "DATABASE_URL": postgres_url(),
        "BERTH_TASKS_EAGER": "true",
        "BERTH_LOG_LEVEL": "WARNING",
        "BERTH_VAR_DIR": str(WORK / "var"),
    }
)
sys.path.insert(0, str(REPO))

import django  # noqa: E402

django.setup()

import docker  # noqa: E402
from django.core.management import call_command  # noqa: E402

from agent_link.pool import pool  # noqa: E402
from bench.common import write_results  # noqa: E402
from deployments import services as deployments  # noqa: E402
from deployments.models import Revision, Rollout, Service  # noqa: E402
from hosts import services as hosts  # noqa: E402
from hosts.models import Host  # noqa: E402
from tests.fleet import Fleet, FleetHost, load_fleet  # noqa: E402

SERVICE = "bench-rollout"
# The gate: a new container must answer HTTP on port 80 before the switch. The image's
# own HEALTHCHECK is turned off: its `docker exec` every second in each of 100
# containers would swamp two cores by itself.
NO_HEALTHCHECK = {"test": ["NONE"]}
GATE = {"mode": "http", "port": 80, "path": "/", "interval_s": 0.2}
FAILING_GATE = {**GATE, "path": "/no-such-page", "retries": 3}
T = TypeVar("T")
GOAL = 5.0  # Berth at least this many times faster than Ansible at equal parallelism


def testbed(*args: str) -> None:
    subprocess.run([str(REPO / "scripts" / "testbed"), *args], check=True, capture_output=True)


def light_hosts(count: int) -> Fleet:
    """``count`` light hosts with engines of their own, made unless they are up already."""
    try:
        fleet = load_fleet("scale-inventory.json")
        ready = len(fleet.hosts) == count and all(
            "/scale/" in host.docker_host for host in fleet.hosts
        )
    except RuntimeError:
        ready = False
    if not ready:
        print(f"starting {count} light hosts, each with its own dockerd ...", flush=True)
        testbed("scale", str(count), "--engines")
        fleet = load_fleet("scale-inventory.json")
    return fleet


def on_each(work: Callable[[FleetHost], Any], hosts: Iterable[FleetHost]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=16) as executor:
        return list(executor.map(work, hosts))


@dataclass(frozen=True)
class Timing:
    """A timed run: wall time, CPU time of the whole machine (controller and every host:
    sshd, agents, dockerds, containers) and of the controller alone (this process and
    what it ran: Berth's rollout, or ansible-playbook with its forks and ssh)."""

    wall_s: float
    machine_cpu_s: float
    controller_cpu_s: float


def machine_cpu_s() -> float:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def controller_cpu_s() -> float:
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(work: Callable[[], T]) -> tuple[T, Timing]:
    wall, machine, controller = time.perf_counter(), machine_cpu_s(), controller_cpu_s()
    result = work()
    return result, Timing(
        wall_s=time.perf_counter() - wall,
        machine_cpu_s=machine_cpu_s() - machine,
        controller_cpu_s=controller_cpu_s() - controller,
    )


@contextmanager
def engine(host: FleetHost) -> Iterator[docker.DockerClient]:
    """The host's own dockerd, as an operator on the host would see it."""
    client = docker.DockerClient(base_url=host.docker_host, timeout=60)
    try:
        yield client
    finally:
        client.close()


def remove_image(fleet: Fleet, image: str, hosts: Iterable[FleetHost] | None = None) -> None:
    def remove(host: FleetHost) -> None:
        with engine(host) as client, suppress(docker.errors.ImageNotFound):
            client.images.remove(image, force=True)

    on_each(remove, fleet.hosts if hosts is None else hosts)


def remove_containers(fleet: Fleet, **filters: str) -> None:
    def remove(host: FleetHost) -> None:
        with engine(host) as client:
            for container in client.containers.list(all=True, filters=filters):
                container.remove(force=True)

    on_each(remove, fleet.hosts)


def check_hosts(fleet: Fleet, image: str, **filters: str) -> None:
    """Every host runs exactly one container matching ``filters``, on ``image`` (by tag,
    or pinned to the digest the registry has for it, as Berth deploys it)."""
    with engine(fleet.hosts[0]) as client:
        digest = client.images.get_registry_data(image).id
    pinned = f"{image.rsplit(':', 1)[0]}@{digest}"
    problems: list[str] = []

    def check(host: FleetHost) -> None:
        with engine(host) as client:
            found = client.containers.list(all=True, filters=filters)
            running = [c for c in found if c.status == "running"]
            on_image = [
                c
                for c in found
                if pinned in client.images.get(c.attrs["Image"]).attrs["RepoDigests"]
            ]
            if len(found) != 1 or len(running) != 1 or len(on_image) != 1:
                seen = [(c.attrs["Config"]["Image"], c.status) for c in found]
                problems.append(f"{host.name}: {seen}")

    on_each(check, fleet.hosts)
    if problems:
        raise SystemExit(f"{len(problems)} host(s) are not on {image}: {problems[:5]}")


# --- Berth ------------------------------------------------------------------------------


def register(fleet: Fleet) -> list[Host]:
    """Every light host registered, connected and refreshed (the sessions warm)."""
    call_command("flush", interactive=False, verbosity=0)
    first = fleet.hosts[0]
    key = hosts.create_ssh_key(name="bench", private_key=Path(first.private_key).read_text())
    registered = [
        hosts.register_host(
            name=host.name,
            address=host.address,
            ssh_key=key,
            host_key=host.host_key,
            docker_host=host.docker_host,
        )
        for host in fleet.hosts
    ]
    return registered


def berth_service(
    registered: list[Host], registry: str, revisions: Iterable[tuple[str, dict[str, Any]]]
) -> Service:
    """A new service on every host (a new name each time: rollouts keep their revisions),
    with a revision for each (tag, health gate)."""
    name = f"{SERVICE}-{Service.objects.count() + 1}"
    service = deployments.create_service(name=name, actor=None, hosts=registered)
    for tag, health in revisions:
        spec = {"image": f"{registry}/demo/web:{tag}", "healthcheck": NO_HEALTHCHECK}
        deployments.create_revision(service, spec=spec, health=health)
    return service


def revision(service: Service, number: int) -> Revision:
    return service.revisions.get(number=number)


def berth_deploy(service: Service, number: int, batch: int) -> tuple[Timing, Rollout]:
    rollout, timing = timed(
        partial(
            deployments.request_deploy,
            service,
            revision(service, number),
            actor=None,
            batch_size=batch,
            max_failures=1,
        )
    )
    rollout.refresh_from_db()
    return timing, rollout


def berth_rollout(fleet: Fleet, registered: list[Host], batch: int) -> Timing:
    v1, v2 = (f"{fleet.registry}/demo/web:{tag}" for tag in ("v1", "v2"))
    service = berth_service(registered, fleet.registry, [("v1", GATE), ("v2", GATE)])
    try:
        _, first = berth_deploy(service, 1, 0)
        if first.status != "succeeded":
            raise SystemExit(f"Berth's deploy of v1 failed: {first.reason}")
        check_hosts(fleet, v1, label=f"berth.service={service.name}")
        remove_image(fleet, v2)
        timing, rollout = berth_deploy(service, 2, batch)
        if rollout.status != "succeeded":
            raise SystemExit(f"Berth's rollout of v2 failed: {rollout.reason}")
        check_hosts(fleet, v2, label=f"berth.service={service.name}")
        return timing
    finally:
        remove_containers(fleet, label=f"berth.service={service.name}")


def berth_failures(fleet: Fleet, registered: list[Host]) -> dict[str, Timing]:
    """The failing health check, then the fleet-wide automatic rollback."""
    v2 = f"{fleet.registry}/demo/web:v2"
    # r1 v2 (where every host starts), r2 v2 with a check that never passes, r3 v1.
    service = berth_service(
        registered, fleet.registry, [("v2", GATE), ("v2", FAILING_GATE), ("v1", GATE)]
    )
    label = f"berth.service={service.name}"
    results: dict[str, Timing] = {}
    # The hosts of the last batch of 10, in the order the rollout takes them.
    order = [host.name for host in deployments.target_hosts(service)]
    last = [fleet[name] for name in order[(len(order) - 1) // 10 * 10 :]]
    try:
        _, first = berth_deploy(service, 1, 0)
        if first.status != "succeeded":
            raise SystemExit(f"Berth's deploy of v2 failed: {first.reason}")
        timing, rollout = berth_deploy(service, 2, 10)
        if rollout.status != "rolled_back":
            raise SystemExit(f"the unhealthy revision ended {rollout.status}: {rollout.reason}")
        check_hosts(fleet, v2, label=label)
        results["unhealthy revision stopped, batches of 10"] = timing

        remove_image(fleet, f"{fleet.registry}/demo/web:v1")
        for host in last:  # the last batch cannot reach the registry
            subprocess.run(
                ["ip", "-n", netns(fleet, host), "route", "del", f"{registry_ip(fleet)}/32"],
                check=True,
            )
        try:
            timing, rollout = berth_deploy(service, 3, 10)
        finally:
            for host in last:
                subprocess.run(
                    ["ip", "-n", netns(fleet, host), "route", "add", f"{registry_ip(fleet)}/32",
                     "via", gateway(host)],
                    check=True,
                )  # fmt: skip
        if rollout.status != "rolled_back":
            raise SystemExit(f"the fleet-wide rollback ended {rollout.status}: {rollout.reason}")
        switched = rollout.reason
        check_hosts(fleet, v2, label=label)
        print(f"  fleet-wide rollback: {switched}", flush=True)
        switched_back = len(fleet.hosts) - len(last)
        results[f"automatic rollback, {switched_back} hosts switched back"] = timing
        return results
    finally:
        remove_containers(fleet, label=label)


def netns(fleet: Fleet, host: FleetHost) -> str:
    return str(fleet.raw_host(host.name)["netns"])


def registry_ip(fleet: Fleet) -> str:
    return fleet.registry.split(":")[0]


def gateway(host: FleetHost) -> str:
    *network, last = host.address.split(".")
    return ".".join([*network, str(int(last) - 1)])


# --- the engines alone ------------------------------------------------------------------


def engine_rollout(fleet: Fleet, parallel: int) -> Timing:
    """The floor: the same change made straight through each host's Docker socket from
    this process, ``parallel`` hosts at a time (pull, create, start, stop and remove the
    old container), with no SSH, no agent, no database and no health gate."""
    v1, v2 = (f"{fleet.registry}/demo/web:{tag}" for tag in ("v1", "v2"))
    name = {"name": "^/bench-engine"}

    def start(host: FleetHost, image: str, suffix: str) -> None:
        with engine(host) as client:
            client.images.pull(image)
            client.containers.run(
                image, name=f"bench-engine-{suffix}", detach=True, healthcheck={"test": ["NONE"]}
            )

    def switch(host: FleetHost) -> None:
        start(host, v2, "v2")
        with engine(host) as client:
            old = client.containers.get("bench-engine-v1")
            old.stop(timeout=10)
            old.remove(force=True)

    try:
        on_each(partial(start, image=v1, suffix="v1"), fleet.hosts)
        remove_image(fleet, v2)
        with ThreadPoolExecutor(max_workers=parallel) as executor:
            _, timing = timed(lambda: list(executor.map(switch, fleet.hosts)))
        check_hosts(fleet, v2, **name)
        return timing
    finally:
        remove_containers(fleet, **name)


# --- Ansible ----------------------------------------------------------------------------

# The same change and the same gate as Berth's: the container replaced by one on the new
# tag (its image's HEALTHCHECK off), then polled over HTTP until it answers.
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: run demo/web on the wanted tag
      community.docker.docker_container:
        name: bench-ansible
        image: "{{ registry }}/demo/web:{{ tag }}"
        healthcheck:
          test: ["NONE"]
        restart_policy: unless-stopped
      register: started
    - name: wait until it answers HTTP
      ansible.builtin.uri:
        url: "http://{{ started.container.NetworkSettings.IPAddress }}/"
        timeout: 2
      register: answer
      until: answer.status == 200
      retries: 50
      delay: 0.2
"""


def ansible_setup(fleet: Fleet) -> Path:
    """Inventory (host keys pinned), configuration (pipelining on) and the playbook."""
    directory = WORK / "ansible"
    directory.mkdir()
    known = directory / "known_hosts"
    known.write_text("".join(f"{h.address} {h.host_key}\n" for h in fleet.hosts))
    inventory = {
        "all": {
            "hosts": {h.name: {"ansible_host": h.address} for h in fleet.hosts},
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": fleet.hosts[0].private_key,
                # The light hosts share this machine's filesystem: the modules run in
                # Ansible's own virtualenv, which has what community.docker needs.
                "ansible_python_interpreter": str(ANSIBLE / "python"),
                "registry": fleet.registry,
            },
        }
    }
    (directory / "inventory.json").write_text(json.dumps(inventory))
    (directory / "ansible.cfg").write_text(
        "[defaults]\nhost_key_checking = True\nstdout_callback = default\n"
        "interpreter_python = auto_silent\n"
        "[ssh_connection]\npipelining = True\n"
        f"ssh_args = -o ControlMaster=auto -o ControlPersist=300s "
        f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes\n"
        f"control_path_dir = {directory / 'cp'}\n"
    )
    (directory / "rollout.yml").write_text(PLAYBOOK)
    return directory


def ansible_play(directory: Path, tag: str, forks: int) -> Timing:
    env = {**os.environ, "ANSIBLE_CONFIG": str(directory / "ansible.cfg")}
    env.pop("DOCKER_HOST", None)
    result, timing = timed(partial(
        subprocess.run,
        [str(ANSIBLE / "ansible-playbook"), "-i", str(directory / "inventory.json"),
         "--forks", str(forks), "-e", f"tag={tag}", str(directory / "rollout.yml")],
        env=env, capture_output=True, text=True,
    ))  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(
            f"ansible-playbook failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    return timing


def ansible_rollout(fleet: Fleet, directory: Path, forks: int) -> Timing:
    try:
        ansible_play(directory, "v1", 50)  # and the connections warm, as for Berth
        check_hosts(fleet, f"{fleet.registry}/demo/web:v1", name="^/bench-ansible$")
        remove_image(fleet, f"{fleet.registry}/demo/web:v2")
        timing = ansible_play(directory, "v2", forks)
        check_hosts(fleet, f"{fleet.registry}/demo/web:v2", name="^/bench-ansible$")
        return timing
    finally:
        remove_containers(fleet, name="^/bench-ansible$")


# --- the run ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100, help="light hosts (default 100)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each case (median)")
    parser.add_argument("--no-ansible", action="store_true", help="Berth's cases only")
    args = parser.parse_args()
    if not args.no_ansible and not (ANSIBLE / "ansible-playbook").exists():
        raise SystemExit("no Ansible in .venv/ansible: run `scripts/bootstrap bench` first")
    fleet = light_hosts(args.hosts)
    call_command("migrate", verbosity=0)
    print(f"registering {len(fleet.hosts)} hosts ...", flush=True)
    registered = register(fleet)
    results: dict[str, dict[str, float]] = {}

    def row(samples: list[Timing]) -> dict[str, float]:
        median = sorted(samples, key=lambda t: t.wall_s)[len(samples) // 2]
        return {"median_s": median.wall_s, "min_s": min(t.wall_s for t in samples),
                "runs": len(samples), "machine_cpu_s": median.machine_cpu_s,
                "controller_cpu_s": median.controller_cpu_s}  # fmt: skip

    def measure(name: str, run: Callable[[], Timing]) -> None:
        results[name] = row([run() for _ in range(args.runs)])
        print(f"  {name}: {results[name]['median_s']:.1f} s", flush=True)

    count = len(fleet.hosts)
    for batch in (10, 25):
        measure(f"berth, batches of {batch}", partial(berth_rollout, fleet, registered, batch))
    for parallel in (10, 25):
        measure(f"docker API alone, {parallel} at a time", partial(engine_rollout, fleet, parallel))
    if not args.no_ansible:
        directory = ansible_setup(fleet)
        for forks in (10, 50):
            measure(f"ansible, forks {forks}", partial(ansible_rollout, fleet, directory, forks))
    for name, timing in berth_failures(fleet, registered).items():
        results[name] = row([timing])
    pool.close_all()

    print(f"\nv1 -> v2 of demo/web on {count} hosts: wall time, and CPU time of the whole "
          "machine and of the controller alone")  # fmt: skip
    print(f"{'case':<44}{'median s':>9}{'min s':>8}{'runs':>5}{'CPU s':>8}{'ctl CPU s':>10}")
    for name, r in results.items():
        print(f"{name:<44}{r['median_s']:>9.1f}{r['min_s']:>8.1f}{r['runs']:>5}"
              f"{r['machine_cpu_s']:>8.1f}{r['controller_cpu_s']:>10.1f}")  # fmt: skip
    if not args.no_ansible:
        for berth_batch, forks in ((10, 10), (25, 50)):
            ansible = results[f"ansible, forks {forks}"]
            berth = results[f"berth, batches of {berth_batch}"]
            wall = ansible["median_s"] / berth["median_s"]
            cpu = ansible["controller_cpu_s"] / berth["controller_cpu_s"]
            print(f"ansible forks {forks} / berth batches of {berth_batch}: {wall:.1f}x the "
                  f"wall time (goal >= {GOAL:g}x), {cpu:.1f}x the controller's CPU")  # fmt: skip
    write_results("rollout_scale", {"hosts": count, "results": results})


if __name__ == "__main__":
    main()
