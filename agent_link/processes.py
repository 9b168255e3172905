"""Agent processes: one started over an SSH exec channel, one started locally."""

from __future__ import annotations

import collections
import contextlib
import subprocess
import threading
from typing import IO

import paramiko

_STDERR_KEEP = 64  # lines of the agent's stderr kept for error messages


class _StderrTail:
    """Drains a stderr stream in the background, keeping its last lines."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=_STDERR_KEEP)
        self._thread = threading.Thread(
            target=self._drain, args=(stream,), name=f"agent-stderr-{name}", daemon=True
        )
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self._lines.append(raw.decode("utf-8", "replace").rstrip())
        except Exception:  # the stream died with its process: nothing more to keep
            return

    def text(self, wait: float = 0.5) -> str:
        self._thread.join(wait)
        return "\n".join(self._lines)


class SSHAgentProcess:
    """The agent running on an exec channel of an SSH connection."""

    def __init__(self, channel: paramiko.Channel, name: str) -> None:
        self.channel = channel
        self.stdout = channel.makefile("rb")
        self._stderr = _StderrTail(channel.makefile_stderr("rb"), name)

    def write(self, data: bytes) -> None:
        if self.channel.closed or not self.channel.active:
            raise EOFError("channel closed")
        self.channel.sendall(data)

    def stderr_text(self) -> str:
        return self._stderr.text()

    def exit_code(self, wait: float = 0) -> int | None:
        if self.channel.status_event.wait(wait):
            code = self.channel.recv_exit_status()
            # paramiko's -1: the channel closed without an exit status (the connection
            # dropped); the agent may well be running on, finishing a deploy.
            return None if code == -1 else code
        return None

    def close(self) -> None:
        self.channel.close()


class LocalAgentProcess:
    """The agent running as a child process of this one (the local transport)."""

    def __init__(self, argv: list[str], name: str) -> None:
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self.stdout = self.popen.stdout
        self._stderr = _StderrTail(self.popen.stderr, name)

    def write(self, data: bytes) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(data)
        self.popen.stdin.flush()

    def stderr_text(self) -> str:
        return self._stderr.text()

    def exit_code(self, wait: float = 0) -> int | None:
        try:
            return self.popen.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.popen.stdin is not None and not self.popen.stdin.closed:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()  # EOF: the agent cancels its work and exits
        try:
            self.popen.wait(2)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
