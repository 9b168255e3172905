"""Tear-down: remove everything the test bed may have left, running or not."""

from __future__ import annotations

import os
import re
import shutil
from contextlib import suppress
from pathlib import Path

from .common import (
    DAEMON_NAMES,
    INVENTORY,
    LINK_PREFIX,
    NETNS_PREFIX,
    REGISTRY_CONFIG,
    RUN_DIR,
    SCALE_INVENTORY,
    SCALE_NETNS_PREFIX,
    STATE_DIR,
    TESTBED_NET,
    TestbedError,
    parallel,
    run,
    say,
)
from .daemons import stop_dockerd, stop_sshd
from .hosts import Host
from .net import existing_links, existing_netns
from .processes import all_pids, cmdline, comm, my_ancestry, stop_pids
from .registry import running_registry


def previous_hosts() -> list[Host]:
    """Every host a previous run may have left, whatever state it is in."""
    indexes: set[int] = set()
    for name in existing_netns() + existing_links():
        if match := re.fullmatch(rf"(?:{NETNS_PREFIX}|{LINK_PREFIX})(\d+)", name):
            indexes.add(int(match.group(1)))
    for directory in (RUN_DIR, STATE_DIR):
        if directory.is_dir():
            for entry in directory.iterdir():
                if match := re.fullmatch(r"h(\d+)", entry.name):
                    indexes.add(int(match.group(1)))
    return [Host(index) for index in sorted(indexes)]


def leftover_pids(hosts: list[Host]) -> set[int]:
    """Processes of the test bed that no pid file accounts for any more."""
    pids: set[int] = set()
    for netns in existing_netns():  # anything running inside a host
        pids.update(int(pid) for pid in run(["ip", "netns", "pids", netns]).split())
    markers = [str(RUN_DIR), str(REGISTRY_CONFIG)] + [str(host.state) + "/" for host in hosts]
    for pid in all_pids():  # daemons whose command line names our paths
        if comm(pid) in DAEMON_NAMES and any(marker in cmdline(pid) for marker in markers):
            pids.add(pid)
    for cgroup in host_cgroups():  # containers
        with suppress(OSError):
            pids.update(int(pid) for pid in (cgroup / "cgroup.procs").read_text().split())
    return pids - my_ancestry()


def host_cgroups(*names: str) -> list[Path]:
    """The cgroups (deepest first) that the hosts' dockerds (or those named, by their
    namespace) put containers in."""
    patterns = names or (f"{NETNS_PREFIX}*", f"{SCALE_NETNS_PREFIX}*")
    roots = [root for pattern in patterns for root in Path("/sys/fs/cgroup").glob(pattern)]
    roots += [root for pattern in patterns for root in Path("/sys/fs/cgroup").glob(f"*/{pattern}")]
    found = [Path(path) for root in roots for path, _, _ in os.walk(root)]
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def mounts_under(*roots: Path) -> list[str]:
    """Mount points below roots (not the roots themselves), deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if any(point.startswith(f"{root}/") for root in roots):
            points.append(point)
    return sorted(points, key=lambda point: point.count("/"), reverse=True)


def unmount_all(*roots: Path) -> None:
    for point in mounts_under(*roots):
        run(["umount", "-l", point], check=False)
    if left := mounts_under(*roots):
        raise TestbedError(f"could not unmount {left}")


def stop_host(host: Host) -> None:
    stop_sshd(host)
    stop_dockerd(host)


def teardown() -> None:
    """Remove everything the test bed may have left, running or not."""
    hosts = previous_hosts()
    registry = running_registry()
    running = [host for host in hosts if host.running_sshd() or host.running_dockerd()]
    if running or registry:
        say(f"stopping {len(running)} host(s)" + (" and the registry" if registry else ""))
    parallel(stop_host, hosts)
    if registry:
        stop_pids([registry], grace=5)
    if leftovers := leftover_pids(hosts):
        say(f"killing {len(leftovers)} leftover process(es)")
        stop_pids(leftovers, grace=0)
    unmount_all(RUN_DIR, STATE_DIR)
    for netns in existing_netns():
        run(["ip", "netns", "delete", netns], check=False)
    for link in existing_links():
        run(["ip", "link", "delete", link], check=False)
    run(["ip", "route", "del", "unreachable", TESTBED_NET], check=False)
    if left := existing_netns() + existing_links():
        raise TestbedError(f"could not remove {left}")
    for cgroup in host_cgroups():
        with suppress(OSError):
            cgroup.rmdir()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    shutil.rmtree(STATE_DIR / "scale", ignore_errors=True)
    INVENTORY.unlink(missing_ok=True)
    SCALE_INVENTORY.unlink(missing_ok=True)
