"""The test bed's processes: pid files, /proc, stopping them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from .common import TestbedError


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def owned_pid(path: Path, marker: str) -> int | None:
    """The pid recorded in path, if alive and its command line has marker.

    The marker check makes sure a recycled pid never gets killed.
    """
    pid = read_pid(path)
    if pid and pid_alive(pid) and marker in cmdline(pid):
        return pid
    return None


def stop_pids(pids: Iterable[int], grace: float) -> None:
    """SIGTERM, wait up to grace seconds for exit, then SIGKILL and wait."""
    pids = [pid for pid in pids if pid_alive(pid)]
    for sig, timeout in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [pid for pid in pids if pid_alive(pid)]
            if not pids:
                return
            time.sleep(0.05)
    if pids:
        raise TestbedError(f"processes {pids} did not exit")


def my_ancestry() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
