"""Helpers for the agent tests: drive an agent process, run the docker CLI, build images."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-agent"
TEST_IMAGE = "berth-test/busybox:1"
TEST_LABEL = "berth-test-agent"
PYTHON = os.environ.get("BERTH_TEST_PYTHON", "python3")
# Exits promptly on SIGTERM (a plain PID 1 would ignore it and make every stop take 10 s).
IDLE_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]


def docker_cli(host: str, *args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    """Run the docker CLI against the test engine (argv list, never a shell)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    result = subprocess.run(["docker", "-H", host, *args], check=False, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr!r}")
    return result


def unique(prefix: str = "bt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def build_busybox_image(host: str, ref: str, extra_files: dict[str, str] | None = None) -> None:
    """`docker import` a tiny image: busybox-static with every applet, plus extra files."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        bindir = Path(tmp, "bin")
        bindir.mkdir()
        shutil.copy(busybox, bindir / "busybox")
        for applet in applets.stdout.split():
            if applet != "busybox":
                (bindir / applet).symlink_to("busybox")
        for name, content in (extra_files or {}).items():
            Path(tmp, name).write_text(content)
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "."], stdout=subprocess.PIPE)
        docker_cli(host, "import", "--change", 'CMD ["sh"]', "-", ref, stdin=tar.stdout)
        tar.wait()


class Reply:
    """The final answer to one request plus the progress lines that preceded it."""

    def __init__(self, final: dict[str, Any], progress: list[dict[str, Any]]) -> None:
        self.raw = final
        self.ok = final.get("ok")
        self.result = final.get("result")
        self.error = final.get("error") or {}
        self.code = self.error.get("code")
        self.progress = progress

    def __repr__(self) -> str:
        return f"Reply({self.raw!r}, progress={len(self.progress)})"


class Agent:
    """Drives one agent process over its stdin/stdout JSON lines."""

    def __init__(self, pyz: Path, docker_host: str | None, env: dict[str, str] | None = None):
        argv = [PYTHON, "-I", "-S", str(pyz), "serve"]
        if docker_host:
            argv += ["--docker-host", docker_host]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tempfile.gettempdir(),
            env=env,
        )
        self.lines: list[dict[str, Any]] = []
        self.queues: dict[Any, queue.Queue] = {}
        self.lock = threading.Lock()
        self.next_id = 1
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.hello = self.next_message("hello", timeout=10)

    def _queue(self, key: Any) -> queue.Queue:
        with self.lock:
            return self.queues.setdefault(key, queue.Queue())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            msg = json.loads(raw)
            self.lines.append(msg)
            self._queue("hello" if "hello" in msg else msg.get("id")).put(msg)
        self._queue("eof").put(None)

    def next_message(self, key: Any, timeout: float = 30) -> dict[str, Any]:
        try:
            return self._queue(key).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message for {key!r} within {timeout} s") from None

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, obj: Any) -> None:
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def start(self, op: str, args: dict[str, Any] | None = None) -> int:
        with self.lock:
            req_id = self.next_id
            self.next_id += 1
        req: dict[str, Any] = {"id": req_id, "op": op}
        if args is not None:
            req["args"] = args
        self.send(req)
        return req_id

    def wait(self, req_id: Any, timeout: float = 30) -> Reply:
        deadline = time.monotonic() + timeout
        progress = []
        while True:
            msg = self.next_message(req_id, timeout=max(deadline - time.monotonic(), 0.01))
            if "progress" in msg:
                progress.append(msg["progress"])
                continue
            return Reply(msg, progress)

    def call(self, op: str, args: dict[str, Any] | None = None, timeout: float = 30) -> Reply:
        return self.wait(self.start(op, args), timeout)

    def ok(self, op: str, args: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        reply = self.call(op, args, timeout)
        assert reply.ok is True, reply
        return reply.result

    def close(self, timeout: float = 10) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
