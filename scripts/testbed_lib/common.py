"""The test bed's paths and constants, its error, and small helpers."""

from __future__ import annotations

import concurrent.futures
import fcntl
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

STATE_DIR = Path(os.environ.get("BERTH_TESTBED_DIR", "/var/lib/berth-testbed"))
RUN_DIR = Path("/run/berth-testbed")
LOCK_FILE = Path("/run/berth-testbed.lock")
IMAGES_DIR = Path(__file__).resolve().parent.parent / "testbed_images"
CLIENT_DIR = STATE_DIR / "client"
INVENTORY = STATE_DIR / "inventory.json"
REGISTRY_CONFIG = STATE_DIR / "registry.yml"
REGISTRY_STORAGE = STATE_DIR / "registry"
REGISTRY_LOG = STATE_DIR / "registry.log"
REGISTRY_PID = RUN_DIR / "registry.pid"

MAX_HOSTS = 50
MAX_SCALE_HOSTS = 250
SCALE_INVENTORY = STATE_DIR / "scale-inventory.json"
REGISTRY_IP = "198.18.0.1"
REGISTRY = f"{REGISTRY_IP}:5000"
DUMMY_LINK = "berth0"
# Every test address lives in here. An "unreachable" route for the whole range means a
# packet for a test host whose veth is gone can never leave through the default route.
TESTBED_NET = "198.18.0.0/15"
NETNS_PREFIX = "berth-h"
LINK_PREFIX = "bth"
SCALE_NETNS_PREFIX = "berth-s"
SCALE_LINK_PREFIX = "bts"
KEY_PHRASE = "berth-test-passphrase"  # of the test key id_ed25519_pass
BUSYBOX = Path("/bin/busybox")
SFTP_SERVER = "/usr/lib/openssh/sftp-server"

REQUIRED_BINARIES = [
    "dockerd",
    "sshd",
    "busybox",
    "docker-registry",
    "ip",
    "nsenter",
    "unshare",
    "ssh-keygen",
    "mount",
    "umount",
]
# Process names (as in /proc/PID/comm, at most 15 characters) of the daemons
# the test bed starts, directly or through dockerd.
DAEMON_NAMES = {
    "sshd",
    "dockerd",
    "containerd",
    "containerd-shim",
    "docker-proxy",
    "docker-registry",
}
APPLETS = [
    "sh", "ash", "httpd", "sleep", "cat", "echo", "printf", "wget", "ls",
    "true", "false", "ps", "kill", "env", "id", "hostname", "grep", "sed",
    "head", "tail", "mkdir", "rm", "cp", "mv", "touch", "date", "uname",
    "test", "[", "nc", "top", "wc", "pwd", "which", "seq", "timeout",
]  # fmt: skip
HEALTHCHECK = (
    "HEALTHCHECK --interval=1s --timeout=2s --start-period=1s --retries=2 "
    "CMD wget -q -O /dev/null http://127.0.0.1{path} || exit 1"
)

IMAGE_MTIME = 1_700_000_000  # fixed, so the demo images' layers are reproducible

_started = time.monotonic()


class TestbedError(Exception):
    """A failure with a message meant for the person running the script."""


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[testbed {time.monotonic() - _started:5.1f}s] {message}", flush=True)


def run(args: list[str], check: bool = True, input: bytes | None = None) -> str:
    """Run a command; return its stdout; raise TestbedError if it fails."""
    result = subprocess.run(args, input=input, capture_output=True, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise TestbedError(f"{' '.join(args)} failed ({result.returncode}): {detail}")
    return result.stdout.decode(errors="replace")


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TestbedError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def parallel(func: Callable[..., object], items: Iterable[object]) -> list[object]:
    """Call func on every item in threads; re-raise the first failure."""
    items = list(items)
    if not items:
        return []
    workers = min(len(items), 16)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def exclusive_lock() -> Iterator[None]:
    """Serialise commands that change the test bed."""
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
