"""SSH connections to hosts with pinned host keys (paramiko, never AutoAddPolicy)."""

from __future__ import annotations

import base64
import errno
import io
import socket
from dataclasses import dataclass
from typing import NoReturn

import paramiko

from .errors import AuthenticationFailed, HostKeyMismatch, HostKeyUnknown, HostUnreachable

_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


@dataclass(frozen=True)
class SSHTarget:
    """Everything needed to open an SSH connection to one host."""

    address: str
    port: int
    username: str
    private_key: str
    passphrase: str
    host_key: str  # 'TYPE BASE64', or '' when no key is pinned yet

    @property
    def label(self) -> str:
        return f"{self.username}@{self.address}:{self.port}"


def load_private_key(text: str, passphrase: str = "") -> paramiko.PKey:
    """Parse an OpenSSH/PEM private key of any supported type."""
    last_error: Exception | None = None
    for key_class in _KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase or None)
        except paramiko.PasswordRequiredException:
            raise ValueError("the private key is encrypted: enter its passphrase") from None
        except (paramiko.SSHException, ValueError) as exc:
            last_error = exc
    if passphrase and last_error is not None and "checkints" in str(last_error).lower():
        raise ValueError("the passphrase does not open this private key")
    raise ValueError(
        "not a private key Berth can use (OpenSSH or PEM ed25519, ECDSA or RSA)"
    ) from None


def public_key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


# paramiko ships no type information, so its classes are Any to mypy.
class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Refuse hosts without a pinned key, remembering the key they offered."""

    def __init__(self, role: str) -> None:
        self.role = role

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise HostKeyUnknown(
            f"{self.role} {hostname} offered host key {key.fingerprint}, which no admin has "
            "approved yet",
            offered_key=public_key_line(key),
            role=self.role,
        )


def _known_hosts_name(target: SSHTarget) -> str:
    if target.port == 22:
        return target.address
    return f"[{target.address}]:{target.port}"


def connect(
    target: SSHTarget, *, timeout: float, keepalive: int, jump: SSHTarget | None = None
) -> list[paramiko.SSHClient]:
    """Open an authenticated SSH connection to ``target``, through ``jump`` if given.

    Returns the clients to close (the target's last), or raises a typed AgentLinkError.
    """
    if jump is None:
        return [_connect_one(target, timeout=timeout, keepalive=keepalive, role="host")]
    jump_client = _connect_one(jump, timeout=timeout, keepalive=keepalive, role="jump host")
    try:
        transport = jump_client.get_transport()
        assert transport is not None
        try:
            channel = transport.open_channel(
                "direct-tcpip", (target.address, target.port), ("127.0.0.1", 0), timeout=timeout
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(
                f"jump host {jump.label} cannot reach {target.address}:{target.port}: "
                f"{_describe(exc, timeout)}"
            ) from None
        client = _connect_one(
            target, timeout=timeout, keepalive=keepalive, role="host", sock=channel
        )
    except BaseException:
        jump_client.close()
        raise
    return [jump_client, client]


def _connect_one(
    target: SSHTarget,
    *,
    timeout: float,
    keepalive: int,
    role: str,
    sock: paramiko.Channel | None = None,
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_RefuseUnknownKey(role))
    if target.host_key:
        key_type, blob = target.host_key.split()[:2]
        client.get_host_keys().add(
            _known_hosts_name(target),
            key_type,
            paramiko.PKey.from_type_string(key_type, base64.b64decode(blob)),
        )
    try:
        pkey = load_private_key(target.private_key, target.passphrase)
    except ValueError as exc:
        raise AuthenticationFailed(f"SSH key for {role} {target.label}: {exc}") from None
    try:
        client.connect(
            target.address,
            port=target.port,
            username=target.username,
            pkey=pkey,
            sock=sock,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except (HostKeyUnknown, HostKeyMismatch):
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyMismatch(
            f"{role} {target.address} presented host key {exc.key.fingerprint}, but the pinned "
            f"key is {exc.expected_key.fingerprint}; the connection was refused",
            offered_key=public_key_line(exc.key),
            role=role,
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise AuthenticationFailed(f"{role} {target.label} refused the SSH key: {exc}") from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        raise HostUnreachable(
            f"cannot reach {role} {target.label}: {_describe(exc, timeout)}"
        ) from None
    transport = client.get_transport()
    assert transport is not None
    if keepalive:
        transport.set_keepalive(keepalive)
    return client


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer within {timeout:g} s (connect timed out)"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        codes = {getattr(error, "errno", None) for error in exc.errors.values()}
        if codes == {errno.ECONNREFUSED}:
            return "connection refused (is sshd running?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is sshd running?)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, paramiko.SSHException) and "banner" in str(exc):
        return f"no SSH greeting within {timeout:g} s (is this an SSH server?)"
    return str(exc) or type(exc).__name__
