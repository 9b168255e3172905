"""The test bed's command line (usage: scripts/testbed)."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import sys
from contextlib import suppress
from pathlib import Path

from .common import (
    BUSYBOX,
    CLIENT_DIR,
    DUMMY_LINK,
    INVENTORY,
    MAX_HOSTS,
    MAX_SCALE_HOSTS,
    REGISTRY,
    REGISTRY_IP,
    REGISTRY_STORAGE,
    REQUIRED_BINARIES,
    RUN_DIR,
    SCALE_INVENTORY,
    SCALE_LINK_PREFIX,
    SCALE_NETNS_PREFIX,
    SFTP_SERVER,
    TestbedError,
    exclusive_lock,
    parallel,
    run,
    say,
    wait_for,
)
from .daemons import (
    docker_ping,
    ensure_client_keys,
    halt_dockerd,
    ssh_banner,
    start_dockerd,
    start_sshd,
    stop_dockerd,
    stop_sshd,
    write_host_key,
    write_sshd_config,
)
from .hosts import OWN_ENGINE_MARK, Host, ScaleHost
from .inventory import host_by_name, read_inventory, update_inventory_host_key, write_inventory
from .net import create_dummy_link, create_host_network, existing_links, existing_netns
from .processes import stop_pids
from .registry import DEMO_IMAGES, registry_ping, running_registry, seed_registry, start_registry
from .teardown import host_cgroups, previous_hosts, teardown, unmount_all


def preflight() -> None:
    if os.geteuid() != 0:
        raise TestbedError("must run as root (it creates namespaces and starts daemons)")
    missing = [name for name in REQUIRED_BINARIES if not shutil.which(name)]
    missing += [str(path) for path in (BUSYBOX, Path(SFTP_SERVER)) if not path.exists()]
    if missing:
        raise TestbedError(
            f"missing: {', '.join(missing)} (apt-get install docker.io openssh-server "
            "busybox-static docker-registry iproute2)"
        )


def cmd_up(count: int) -> None:
    if not 1 <= count <= MAX_HOSTS:
        raise TestbedError(f"N must be between 1 and {MAX_HOSTS}")
    teardown()
    hosts = [Host(index) for index in range(1, count + 1)]
    for old in previous_hosts():  # every host's state, also of a larger earlier run
        shutil.rmtree(old.state, ignore_errors=True)
    shutil.rmtree(REGISTRY_STORAGE, ignore_errors=True)
    RUN_DIR.mkdir(parents=True, exist_ok=True)

    keys = ensure_client_keys()
    say(f"client keys in {CLIENT_DIR}")
    kind = create_dummy_link()
    parallel(create_host_network, hosts)
    say(f"network: {DUMMY_LINK} ({kind}) {REGISTRY_IP}; namespaces berth-h1..{count}")

    def start_host(host: Host) -> None:
        host.state.mkdir(parents=True)
        write_host_key(host)
        write_sshd_config(host)
        start_sshd(host)
        start_dockerd(host)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        registry = pool.submit(start_registry)
        parallel(start_host, hosts)
        say(f"{count} host(s) up: sshd + dockerd answering")
        registry.result()
    say(f"registry up at http://{REGISTRY}/v2/")

    seed_registry(builder=hosts[0], checker=hosts[min(1, count - 1)])
    names = ", ".join(f"{image.repository}:{image.tag}" for image in DEMO_IMAGES)
    say(f"registry seeded: {names}; pull checked on {hosts[min(1, count - 1)].name}")

    write_inventory(hosts, keys)
    say(f"inventory: {INVENTORY}")


def cmd_down() -> None:
    teardown()
    say("down: no namespaces, links or test bed processes left")


def existing_scale_hosts() -> list[ScaleHost]:
    indexes: set[int] = set()
    for name in existing_netns() + existing_links():
        if match := re.fullmatch(rf"(?:{SCALE_NETNS_PREFIX}|{SCALE_LINK_PREFIX})(\d+)", name):
            indexes.add(int(match.group(1)))
    return [ScaleHost(index) for index in sorted(indexes)]


def remove_scale_host(host: ScaleHost) -> None:
    stop_sshd(host)
    if host.has_engine:
        stop_dockerd(host)  # its containers first: they are not in the namespace
    pids = run(["ip", "netns", "pids", host.netns], check=False).split()
    stop_pids([int(pid) for pid in pids], grace=2)
    run(["ip", "netns", "delete", host.netns], check=False)
    run(["ip", "link", "delete", host.link], check=False)
    unmount_all(host.state, host.run)
    for cgroup in host_cgroups(host.netns):
        with suppress(OSError):
            cgroup.rmdir()
    shutil.rmtree(host.state, ignore_errors=True)
    shutil.rmtree(host.run, ignore_errors=True)


def cmd_scale(count: int, engines: bool = False) -> None:
    """Replace the light hosts with ``count`` fresh ones (0: remove them); with
    ``engines``, each runs a dockerd of its own instead of sharing h1's."""
    if not 0 <= count <= MAX_SCALE_HOSTS:
        raise TestbedError(f"N must be between 0 and {MAX_SCALE_HOSTS}")
    inventory = read_inventory()  # light hosts need the test bed (h1's dockerd)
    if not docker_ping(Host(1).docker_sock):
        raise TestbedError("h1's dockerd does not answer; run `up N` first")
    old = existing_scale_hosts()
    if old:
        say(f"removing {len(old)} light host(s)")
        parallel(remove_scale_host, old)
    SCALE_INVENTORY.unlink(missing_ok=True)
    if count == 0:
        return
    hosts = [ScaleHost(index) for index in range(1, count + 1)]
    parallel(create_host_network, hosts)

    def start_host(host: ScaleHost) -> None:
        host.state.mkdir(parents=True)
        if engines:
            (host.state / OWN_ENGINE_MARK).touch()
            start_dockerd(host)
        write_host_key(host)
        write_sshd_config(host)  # names the host's own dockerd when it has one
        start_sshd(host)

    parallel(start_host, hosts)
    keys = {label: Path(path) for label, path in inventory["client_keys"].items()
            if label != "passphrase"}  # fmt: skip
    write_inventory(hosts, keys, SCALE_INVENTORY)
    engine = "each its own dockerd" if engines else "sshd only, h1's dockerd"
    say(f"{count} light host(s) s1..s{count} up ({engine}): {SCALE_INVENTORY}")


def cmd_status(hosts: int = 0) -> int:
    inventory = read_inventory()
    problems = 0

    def mark(ok: bool, text: str) -> str:
        nonlocal problems
        problems += not ok
        return f"{text}={'ok' if ok else 'DOWN'}"

    netns = set(existing_netns())
    for entry in inventory["hosts"]:
        host = Host(int(entry["name"][1:]))
        sshd, dockerd = host.running_sshd(), host.running_dockerd()
        checks = [
            mark(host.netns in netns, "netns"),
            mark(sshd is not None, f"sshd[{sshd or '-'}]"),
            mark(dockerd is not None, f"dockerd[{dockerd or '-'}]"),
            mark(ssh_banner(host.address), f"ssh:{host.address}"),
            mark(docker_ping(host.docker_sock), "docker-ping"),
        ]
        print(f"{host.name:<4} " + " ".join(checks))
    registry = running_registry()
    print(
        "registry "
        + mark(registry is not None, f"pid[{registry or '-'}]")
        + " "
        + mark(registry_ping(), f"http://{REGISTRY}/v2/")
    )
    if len(inventory["hosts"]) < hosts:
        problems += 1
        have = len(inventory["hosts"])
        print(f"{have} host(s) up; {hosts} wanted: run `scripts/testbed up {hosts}`")
    print("all ok" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


def cmd_sshd(action: str, name: str) -> None:
    host = host_by_name(name)
    if action == "stop":
        stopped = stop_sshd(host)
        say(f"sshd of {name} {'stopped' if stopped else 'was not running'}")
    else:
        say(f"sshd of {name} running, pid {start_sshd(host)}")


def cmd_dockerd(action: str, name: str) -> None:
    host = host_by_name(name)
    if isinstance(host, ScaleHost):
        raise TestbedError(f"{name} is a light host: it has no dockerd of its own")
    if action in ("stop", "restart"):
        stopped = halt_dockerd(host)
        say(f"dockerd of {name} {'stopped' if stopped else 'was not running'}")
    if action in ("start", "restart"):
        pid = host.running_dockerd() or start_dockerd(host)
        say(f"dockerd of {name} running, pid {pid}")


def cmd_link(action: str, name: str, rate: str = "200kbit") -> None:
    """Cut or restore a host's network like a pulled cable: the host's own end goes
    down, so packets to it are dropped (callers see timeouts) and never rerouted.
    ``slow`` limits the bandwidth towards the host (a long pull), ``fast`` lifts it."""
    host = host_by_name(name)
    if action == "slow":
        run(["tc", "qdisc", "replace", "dev", host.link, "root", "tbf", "rate", rate,
             "burst", "16kbit", "latency", "5s"])  # fmt: skip
        say(f"link of {name} limited to {rate}")
        return
    if action == "fast":
        run(["tc", "qdisc", "del", "dev", host.link, "root"], check=False)
        say(f"link of {name} at full speed")
        return
    run(["ip", "-n", host.netns, "link", "set", "eth0", action])
    if action == "up":
        # Taking eth0 down dropped the route to the registry with it.
        run(["ip", "-n", host.netns, "route", "replace", f"{REGISTRY_IP}/32", "via", host.gateway])
        # Connects during the cut left a failed ARP entry that would answer "no route to
        # host" for a while yet; a cable plugged back in is reachable at once.
        run(["ip", "neigh", "flush", "dev", host.link], check=False)
        wait_for(lambda: ssh_banner(host.address), 10, f"sshd of {name} to answer again")
    say(f"link of {name} {action}")


def cmd_hostkey_rotate(name: str) -> None:
    host = host_by_name(name)
    stop_sshd(host)
    write_host_key(host)
    start_sshd(host)
    update_inventory_host_key(host)
    print(host.public_host_key())


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="testbed", description="Berth test bed: real SSH + Docker hosts in namespaces."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="(re)build N fresh test hosts")
    up.add_argument("count", type=int, metavar="N")
    commands.add_parser("down", help="stop and remove the test bed")
    status = commands.add_parser("status", help="check every host; exit 1 if anything is down")
    status.add_argument(
        "--hosts", type=int, default=0, metavar="N", help="also exit 1 with fewer than N hosts"
    )
    sshd = commands.add_parser("sshd", help="stop or start one host's sshd")
    sshd.add_argument("action", choices=["stop", "start"])
    sshd.add_argument("name", metavar="NAME", help="host name, e.g. h2")
    dockerd = commands.add_parser(
        "dockerd", help="stop, start or restart one host's dockerd (its containers kept)"
    )
    dockerd.add_argument("action", choices=["stop", "start", "restart"])
    dockerd.add_argument("name", metavar="NAME", help="host name, e.g. h2")
    link = commands.add_parser(
        "link", help="cut a host off the network, reconnect it, or make its link slow"
    )
    link.add_argument("action", choices=["down", "up", "slow", "fast"])
    link.add_argument("name", metavar="NAME")
    link.add_argument(
        "rate", nargs="?", default="200kbit", help="with slow: bandwidth to the host (tc rate)"
    )
    scale = commands.add_parser(
        "scale", help="add N light hosts (sshd only, sharing h1's dockerd); 0 removes them"
    )
    scale.add_argument("count", type=int, metavar="N")
    scale.add_argument(
        "--engines", action="store_true", help="give each light host a dockerd of its own"
    )
    hostkey = commands.add_parser("hostkey", help="give a host a new SSH host key")
    hostkey.add_argument("action", choices=["rotate"])
    hostkey.add_argument("name", metavar="NAME")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        preflight()
        if args.command == "status":
            return cmd_status(args.hosts)
        with exclusive_lock():
            if args.command == "up":
                cmd_up(args.count)
            elif args.command == "down":
                cmd_down()
            elif args.command == "sshd":
                cmd_sshd(args.action, args.name)
            elif args.command == "dockerd":
                cmd_dockerd(args.action, args.name)
            elif args.command == "link":
                cmd_link(args.action, args.name, args.rate)
            elif args.command == "scale":
                cmd_scale(args.count, args.engines)
            elif args.command == "hostkey":
                cmd_hostkey_rotate(args.name)
    except TestbedError as error:
        print(f"testbed: error: {error}", file=sys.stderr)
        return 1
    return 0
