"""Starting the agent on a host: over SSH (installing or upgrading it first when
needed) or as a local child process."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shlex
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from . import forced
from .bundle import agent_bundle
from .errors import AgentLinkError, AgentStartFailed, SessionClosed
from .processes import LocalAgentProcess, SSHAgentProcess
from .session import AgentSession
from .ssh import SSHTarget, connect

log = logging.getLogger(__name__)

REMOTE_DIR = ".berth"  # relative to the SSH user's home directory
REMOTE_PATH = f"{REMOTE_DIR}/berth-agent.pyz"
# The container security policy the agent enforces (agent/README.md): written here by
# Berth, owner-only, and refused by the agent if anyone else could have written it.
POLICY_PATH = f"{REMOTE_DIR}/policy.json"
# What the forced command of the authorized_keys line lets Berth write, by kind (forced.py).
FORCED_FILES = {"agent": REMOTE_PATH, "policy": POLICY_PATH}
FORCED_WRITE_TIMEOUT = 120.0  # seconds for one file written through the forced command
SUPPORTED_PROTOCOLS = {1}


@dataclass(frozen=True)
class LinkConfig:
    """How to reach one host's agent; equal configs can share a link."""

    name: str
    transport: str  # "ssh" or "local"
    docker_host: str
    ssh: SSHTarget | None = None
    jump: SSHTarget | None = None


@dataclass(frozen=True)
class Timeouts:
    connect: float
    start: float
    keepalive: int


# Given a link's config (its host's name), the policy document for the host's agent, or
# None to leave the file alone. Installed by the policies app: this package imports no app.
PolicySource = Callable[[str], "dict[str, Any] | None"]
_policy_source: PolicySource | None = None


def set_policy_source(source: PolicySource | None) -> None:
    global _policy_source
    _policy_source = source


class AgentLink:
    """An open link to one host: the agent session and the SSH connections under it
    (none for the local transport; the jump host's and the host's with a jump host)."""

    def __init__(self, session: AgentSession, clients: list[paramiko.SSHClient]) -> None:
        self.session = session
        self.clients = clients
        self.name = ""
        self._policy_written: str | None = None

    def sync_policy(self, revoked: Iterable[str] = ()) -> None:
        """Write the host's current policy file (less the ``revoked`` grants, of a run an
        admin overrode that has just ended) unless this link last wrote exactly that."""
        if _policy_source is None:
            return
        document = _policy_source(self.name)
        if document is None:
            return
        gone = set(revoked)
        if gone:
            granted = [d for d in document.get("granted_specs", []) if d not in gone]
            document = {**document, "granted_specs": granted}
        text = json.dumps(document, sort_keys=True, indent=1) + "\n"
        if text == self._policy_written:
            return
        if self.clients:
            _write_remote_policy(self.clients[-1], text)
        else:
            _write_local_policy(text)
        self._policy_written = text

    @property
    def alive(self) -> bool:
        if not self.session.alive:
            return False
        for client in self.clients:
            transport = client.get_transport()
            if transport is None or not transport.is_active():
                return False
        return True

    def close(self) -> None:
        self.session.close()
        for client in reversed(self.clients):
            client.close()

    def abort(self) -> None:
        """Close without delivering what is still queued: after a timeout on a dead link,
        a request stuck in the socket buffer must not reach the host when the link returns
        (a stale deploy arriving minutes later)."""
        for client in self.clients:
            transport = client.get_transport()
            sock = getattr(transport, "sock", None)
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()


def agent_argv(docker_host: str) -> list[str]:
    argv = ["serve"]
    if docker_host:
        argv += ["--docker-host", docker_host]
    return argv


def remote_command(docker_host: str) -> str:
    """The command line run on the host; the one the forced command lets through."""
    return shlex.join(["python3", REMOTE_PATH, *agent_argv(docker_host)])


def authorized_keys_options(docker_host: str) -> str:
    """``command="…",restrict`` for Berth's key: the agent, its install and upgrade,
    the policy file, and nothing else (forced.py)."""
    return forced.authorized_keys_options(remote_command(docker_host), FORCED_FILES)


def open_link(config: LinkConfig, timeouts: Timeouts) -> AgentLink:
    """Start the host's agent and write its policy file before anything is asked of it."""
    if config.transport == "local":
        link = AgentLink(_start_local(config, timeouts), clients=[])
    else:
        if config.ssh is None:
            raise AgentStartFailed(f"{config.name} has no SSH key configured")
        clients = connect(
            config.ssh, timeout=timeouts.connect, keepalive=timeouts.keepalive, jump=config.jump
        )
        try:
            link = AgentLink(_start_remote(clients[-1], config, timeouts), clients=clients)
        except BaseException:
            for client in reversed(clients):
                client.close()
            raise
    link.name = config.name
    try:
        link.sync_policy()
    except Exception:
        # The agent keeps enforcing the file it has (none: no host binds at all), and
        # the server checks every spec itself; a container run syncs again, strictly.
        log.warning("could not write the policy file on %s", config.name, exc_info=True)
    return link


def _start_local(config: LinkConfig, timeouts: Timeouts) -> AgentSession:
    bundle = agent_bundle()
    argv = [sys.executable, str(bundle.path), *agent_argv(config.docker_host)]
    session = AgentSession(LocalAgentProcess(argv, config.name), name=config.name)
    _check_hello(session, session.start(timeouts.start), config.name)
    return session


def _start_remote(
    client: paramiko.SSHClient, config: LinkConfig, timeouts: Timeouts
) -> AgentSession:
    bundle = agent_bundle()
    session = _exec_agent(client, config, timeouts)
    if session is not None and session.hello.get("sha256") == bundle.sha256:
        _check_hello(session, session.hello, config.name)
        return session
    if session is not None:
        log.info(
            "agent on %s is %s, installing %s",
            config.name,
            session.hello.get("version"),
            bundle.sha256[:12],
        )
        session.close()
    _upload(client, bundle.data)
    session = _exec_agent(client, config, timeouts)
    if session is None:
        raise AgentStartFailed(f"the agent uploaded to {config.name} could not be started")
    if session.hello.get("sha256") != bundle.sha256:
        session.close()
        raise AgentStartFailed(
            f"the agent on {config.name} reports SHA-256 {session.hello.get('sha256')}, "
            f"not the {bundle.sha256} that was uploaded"
        )
    _check_hello(session, session.hello, config.name)
    return session


def _exec_agent(
    client: paramiko.SSHClient, config: LinkConfig, timeouts: Timeouts
) -> AgentSession | None:
    """Start the installed agent; None when it is not installed."""
    transport = client.get_transport()
    assert transport is not None
    channel = transport.open_session(timeout=timeouts.connect)
    channel.exec_command(remote_command(config.docker_host))
    process = SSHAgentProcess(channel, config.name)
    session = AgentSession(process, name=config.name)
    try:
        session.start(timeouts.start)
    except SessionClosed:
        code = process.exit_code(wait=1.0)
        stderr = process.stderr_text()
        if code == 127 or "python3: not found" in stderr or "python3: command not found" in stderr:
            raise AgentStartFailed(
                f"python3 is not installed on {config.name}: the agent needs Python 3.9 or newer"
            ) from None
        if "can't open file" in stderr or "No such file or directory" in stderr:
            return None
        raise AgentStartFailed(
            f"the agent on {config.name} exited with status {code}: "
            f"{stderr.strip().splitlines()[-1] if stderr.strip() else 'no message'}"
        ) from None
    return session


def _upload(client: paramiko.SSHClient, data: bytes) -> None:
    # Read back and compared before the rename: Berth checks what landed itself,
    # before it can run, not the agent's word for it.
    _replace_remote_file(client, REMOTE_PATH, data, what="install the agent")


def _write_remote_policy(client: paramiko.SSHClient, text: str) -> None:
    _replace_remote_file(client, POLICY_PATH, text.encode(), what="write the policy file")


def _replace_remote_file(client: paramiko.SSHClient, path: str, data: bytes, *, what: str) -> None:
    """Replace ``path`` (under ~/.berth, made 0700 if missing) atomically: a temporary
    file made 0600 before it holds anything, read back and compared by SHA-256, then
    renamed over the old one, so a concurrent reader sees the old file or the new,
    never half of one and never one that differs from ``data``."""
    temporary = f"{path}.{secrets.token_hex(6)}.tmp"
    try:
        sftp = client.open_sftp()
    except paramiko.SSHException as exc:
        # A key held to the forced command of authorized_keys_options gets no SFTP; the
        # command takes the file itself and renames it into place only if its SHA-256
        # is the one announced.
        kind = next(kind for kind, known in FORCED_FILES.items() if known == path)
        try:
            forced.write_file(client, kind, data, what=what, timeout=FORCED_WRITE_TIMEOUT)
        except AgentStartFailed as refused:
            raise AgentStartFailed(f"cannot open SFTP to {what} ({exc}); {refused}") from None
        return
    try:
        try:
            sftp.stat(REMOTE_DIR)
        except FileNotFoundError:
            sftp.mkdir(REMOTE_DIR, mode=0o700)
        with sftp.open(temporary, "wb") as handle:
            handle.chmod(0o600)
            handle.set_pipelined(True)
            handle.write(data)
        with sftp.open(temporary, "rb") as written:
            landed = hashlib.sha256(written.read()).hexdigest()
        expected = hashlib.sha256(data).hexdigest()
        if landed != expected:
            raise AgentStartFailed(
                f"could not {what}: the file written over SFTP reads back with SHA-256 "
                f"{landed}, not {expected}"
            )
        sftp.posix_rename(temporary, path)
    except (OSError, AgentStartFailed) as exc:
        with contextlib.suppress(OSError):
            sftp.remove(temporary)
        if isinstance(exc, AgentStartFailed):
            raise
        raise AgentStartFailed(f"could not {what} over SFTP: {exc}") from None
    finally:
        sftp.close()


def _write_local_policy(text: str) -> None:
    """The same for an agent on this machine (the local transport): the server user's
    ~/.berth/policy.json, shared by every local-transport host."""
    directory = Path.home() / REMOTE_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    temporary = directory / f"policy.json.{secrets.token_hex(6)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, directory / "policy.json")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _check_hello(session: AgentSession, hello: dict[str, Any], name: str) -> None:
    protocol = hello.get("protocol")
    if protocol not in SUPPORTED_PROTOCOLS:
        session.close()
        raise AgentStartFailed(
            f"the agent on {name} speaks protocol {protocol}; this server supports "
            f"{sorted(SUPPORTED_PROTOCOLS)}"
        )


__all__ = [
    "AgentLink",
    "AgentLinkError",
    "LinkConfig",
    "Timeouts",
    "open_link",
    "remote_command",
    "set_policy_source",
]
