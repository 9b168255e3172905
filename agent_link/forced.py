"""The forced command of the authorized_keys line a host's page shows, and how Berth
writes a file through it.

With ``command="…",restrict`` on its key, sshd runs the forced command for every
request of that key, the original one in ``$SSH_ORIGINAL_COMMAND`` (for the SFTP
subsystem, the subsystem's program). The command here is a POSIX sh dispatcher that
does only what Berth does over SSH:

- the agent's command line, exactly (:func:`launch.remote_command`): exec it;
- ``berth-write KIND SHA256`` with the file on stdin, KIND ``agent`` or ``policy``:
  write it under ``~/.berth`` (made 0700, the file 0600) through a temporary file,
  renamed into place only if its SHA-256 is the one announced — the install,
  upgrade and policy file that Berth otherwise writes over SFTP;
- anything else, SFTP included: refused on stderr, exit 1.

It is not a privilege boundary against whoever holds the key: they can do what Berth
does, which is to replace the agent and set its policy (docs/security.md).
"""

from __future__ import annotations

import hashlib
import shlex
import time

import paramiko

from .errors import AgentStartFailed

WRITE_VERB = "berth-write"
MAX_WRITE_BYTES = 64 * 1024 * 1024
REFUSED = "berth: this key only runs and installs the Berth agent"


def dispatcher(agent_command: str, files: dict[str, str]) -> str:
    """The forced command: ``agent_command`` runs as is; ``files`` maps each KIND that
    ``berth-write`` takes to its path under the home directory."""
    branches = [f"{shlex.quote(agent_command)}) exec {agent_command};;"]
    branches += [
        f"{shlex.quote(f'{WRITE_VERB} {kind} ')}*) f={shlex.quote(path)};;"
        for kind, path in files.items()
    ]
    branches.append(f"*) echo {shlex.quote(REFUSED)} >&2; exit 1;;")
    # The announced hash is the last word: 64 lower-case hex digits, or nothing is
    # written. The temporary file is owner-only (umask) and removed on any failure.
    directory = shlex.quote(files["agent"].rpartition("/")[0])
    return "; ".join(
        [
            "umask 077",
            "cd || exit 1",
            f"case $SSH_ORIGINAL_COMMAND in {' '.join(branches)} esac",
            "h=${SSH_ORIGINAL_COMMAND##* }",
            "case $h in *[!0-9a-f]*) exit 1;; esac",
            "[ ${#h} -eq 64 ] || exit 1",
            f"mkdir -p {directory} && t=$f.$$.tmp && head -c {MAX_WRITE_BYTES} >$t"
            ' && set -- $(sha256sum <$t) && [ "$1" = "$h" ] && mv -f $t $f'
            " || { rm -f $t; echo 'berth: the file did not arrive whole' >&2; exit 1; }",
        ]
    )


def authorized_keys_options(agent_command: str, files: dict[str, str]) -> str:
    """``command="…",restrict``: the dispatcher, its double quotes escaped as sshd reads them."""
    command = dispatcher(agent_command, files).replace('"', '\\"')
    return f'command="{command}",restrict'


def write_file(
    client: paramiko.SSHClient, kind: str, data: bytes, *, what: str, timeout: float
) -> None:
    """Write ``data`` as the file KIND through the forced command (``berth-write``);
    AgentStartFailed, with what the host said, if it was not written."""
    transport = client.get_transport()
    if transport is None:
        raise AgentStartFailed(f"could not {what}: the SSH connection is closed")
    command = f"{WRITE_VERB} {kind} {hashlib.sha256(data).hexdigest()}"
    channel = transport.open_session(timeout=timeout)
    try:
        channel.settimeout(timeout)
        channel.exec_command(command)
        channel.sendall(data)
        channel.shutdown_write()
        deadline = time.monotonic() + timeout
        stderr = b""
        while not channel.exit_status_ready() or channel.recv_stderr_ready():
            if time.monotonic() > deadline:
                raise AgentStartFailed(f"could not {what}: no answer within {timeout:g} s")
            if channel.recv_stderr_ready():
                stderr += channel.recv_stderr(4096)
            else:
                time.sleep(0.05)
        status = channel.recv_exit_status()
    except OSError as exc:  # socket.timeout included
        raise AgentStartFailed(f"could not {what} through the forced command: {exc}") from None
    finally:
        channel.close()
    if status != 0:
        said = stderr.decode("utf-8", "replace").strip().splitlines()
        raise AgentStartFailed(
            f"could not {what} through the forced command (exit status {status}): "
            f"{said[-1] if said else 'no message'}"
        )
