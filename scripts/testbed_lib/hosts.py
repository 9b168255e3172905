"""The test hosts (hN) and light hosts (sN): their names, addresses and paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import (
    LINK_PREFIX,
    NETNS_PREFIX,
    RUN_DIR,
    SCALE_LINK_PREFIX,
    SCALE_NETNS_PREFIX,
    STATE_DIR,
)
from .processes import owned_pid


@dataclass(frozen=True)
class Host:
    index: int

    @property
    def name(self) -> str:
        return f"h{self.index}"

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def hostname(self) -> str:
        return self.netns

    @property
    def link(self) -> str:
        return f"{LINK_PREFIX}{self.index}"

    @property
    def gateway(self) -> str:
        return f"198.18.{self.index}.1"

    @property
    def address(self) -> str:
        return f"198.18.{self.index}.2"

    @property
    def state(self) -> Path:
        return STATE_DIR / self.name

    @property
    def run(self) -> Path:
        return RUN_DIR / self.name

    @property
    def home(self) -> Path:
        return self.state / "root"

    @property
    def host_key(self) -> Path:
        return self.state / "ssh_host_ed25519_key"

    @property
    def sshd_config(self) -> Path:
        return self.state / "sshd_config"

    @property
    def sshd_pid(self) -> Path:
        return self.run / "sshd.pid"

    @property
    def data_root(self) -> Path:
        return self.state / "docker"

    @property
    def docker_sock(self) -> Path:
        return self.run / "docker.sock"

    @property
    def docker_pid(self) -> Path:
        return self.run / "docker.pid"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_sock}"

    def running_sshd(self) -> int | None:
        return owned_pid(self.sshd_pid, str(self.sshd_config))

    def running_dockerd(self) -> int | None:
        return owned_pid(self.docker_pid, str(self.data_root))

    def public_host_key(self) -> str:
        """The host key as pinned by clients: 'ssh-ed25519 AAAA...'."""
        key_type, key_data = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"{key_type} {key_data}"


# A light host whose state directory holds this file runs its own dockerd.
OWN_ENGINE_MARK = "own-engine"


@dataclass(frozen=True)
class ScaleHost(Host):
    """A light host: its own namespace, address, sshd, host key and home; h1's dockerd,
    or (``scale N --engines``) a dockerd of its own, so that each light host keeps its
    own containers, as a real host does, for a rollout to all of them."""

    @property
    def name(self) -> str:
        return f"s{self.index}"

    @property
    def netns(self) -> str:
        return f"{SCALE_NETNS_PREFIX}{self.index}"

    @property
    def link(self) -> str:
        return f"{SCALE_LINK_PREFIX}{self.index}"

    @property
    def gateway(self) -> str:
        return f"198.19.{self.index}.1"

    @property
    def address(self) -> str:
        return f"198.19.{self.index}.2"

    @property
    def state(self) -> Path:
        return STATE_DIR / "scale" / self.name

    @property
    def run(self) -> Path:
        return RUN_DIR / "scale" / self.name

    @property
    def has_engine(self) -> bool:
        return (self.state / OWN_ENGINE_MARK).exists()

    @property
    def docker_sock(self) -> Path:
        return self.run / "docker.sock" if self.has_engine else Host(1).docker_sock

    def running_dockerd(self) -> int | None:
        return super().running_dockerd() if self.has_engine else None


def in_host(host: Host, args: list[str], own_home: bool = False) -> list[str]:
    """Command line that runs args under the host's hostname (new UTS namespace).

    With own_home, the host's home directory is also bind-mounted over /root:
    only for a process already in a private mount namespace (`ip netns exec`).
    """
    mount = 'mount --bind "$2" /root && ' if own_home else ""
    script = f'hostname "$1" && {mount}shift 2 && exec "$@"'
    return ["unshare", "--uts", "/bin/sh", "-c", script, "sh",
            host.hostname, str(host.home), *args]  # fmt: skip
