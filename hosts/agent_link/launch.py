"""Starting the agent on a host: over SSH (installing or upgrading it first when
needed) or as a local child process."""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import shlex
import socket
import struct
import sys
from dataclasses import dataclass

import paramiko

from .bundle import agent_bundle
from .errors import AgentLinkError, AgentStartFailed, SessionClosed
from .processes import LocalAgentProcess, SSHAgentProcess
from .session import AgentSession
from .ssh import SSHTarget, connect

log = logging.getLogger(__name__)

REMOTE_DIR = ".berth"  # relative to the SSH user's home directory
REMOTE_PATH = f"{REMOTE_DIR}/berth-agent.pyz"
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


class AgentLink:
    """An open link to one host: the agent session and the SSH connections under it
    (none for the local transport; the jump host's and the host's with a jump host)."""

    def __init__(self, session: AgentSession, clients: list[paramiko.SSHClient]) -> None:
        self.session = session
        self.clients = clients

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
    """The command line run on the host; also the forced command for authorized_keys."""
    return shlex.join(["python3", REMOTE_PATH, *agent_argv(docker_host)])


def open_link(config: LinkConfig, timeouts: Timeouts) -> AgentLink:
    if config.transport == "local":
        return AgentLink(_start_local(config, timeouts), clients=[])
    if config.ssh is None:
        raise AgentStartFailed(f"{config.name} has no SSH key configured")
    clients = connect(
        config.ssh, timeout=timeouts.connect, keepalive=timeouts.keepalive, jump=config.jump
    )
    try:
        return AgentLink(_start_remote(clients[-1], config, timeouts), clients=clients)
    except BaseException:
        for client in reversed(clients):
            client.close()
        raise


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
    temporary = f"{REMOTE_DIR}/berth-agent.pyz.{secrets.token_hex(6)}.tmp"
    try:
        sftp = client.open_sftp()
    except paramiko.SSHException as exc:
        raise AgentStartFailed(f"cannot open SFTP to install the agent: {exc}") from None
    try:
        try:
            sftp.stat(REMOTE_DIR)
        except FileNotFoundError:
            sftp.mkdir(REMOTE_DIR, mode=0o700)
        sftp.putfo(io.BytesIO(data), temporary, file_size=len(data), confirm=True)
        sftp.chmod(temporary, 0o600)
        # rename() is atomic: a concurrent start sees the old agent or the new, never half
        sftp.posix_rename(temporary, REMOTE_PATH)
    except OSError as exc:
        raise AgentStartFailed(f"installing the agent over SFTP failed: {exc}") from None
    finally:
        sftp.close()


def _check_hello(session: AgentSession, hello: dict, name: str) -> None:
    protocol = hello.get("protocol")
    if protocol not in SUPPORTED_PROTOCOLS:
        session.close()
        raise AgentStartFailed(
            f"the agent on {name} speaks protocol {protocol}; this server supports "
            f"{sorted(SUPPORTED_PROTOCOLS)}"
        )


__all__ = ["AgentLink", "AgentLinkError", "LinkConfig", "Timeouts", "open_link", "remote_command"]
