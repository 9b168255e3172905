"""One long-lived agent process and the JSON-lines conversation with it.

Requests are multiplexed by id: many callers (threads) may have requests in
flight on one session, and a reader thread routes each reply, progress line
and final answer, to the request it belongs to.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from .errors import AgentError, AgentTimeout, SessionClosed

log = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, Any]], None]


# The longest line read from an agent (a container.list of thousands of containers is a
# few MiB; log results are capped by the agent's tail and follow limits).
MAX_LINE_BYTES = 64 * 1024 * 1024


class AgentProcess(Protocol):
    """A running agent: its stdin, stdout and what it said on stderr."""

    stdout: IO[bytes]

    def write(self, data: bytes) -> None: ...

    def stderr_text(self) -> str: ...

    def exit_code(self, wait: float = 0) -> int | None: ...

    def close(self) -> None: ...


class PendingRequest:
    """A request sent to the agent whose final answer has not been read yet."""

    def __init__(self, session: AgentSession, request_id: int, op: str, on_progress: Any) -> None:
        self.session = session
        self.id = request_id
        self.op = op
        self.on_progress: ProgressCallback | None = on_progress
        self._done = threading.Event()
        self._result: Any = None
        self._error: Exception | None = None
        # Monotonic times of sending and of the final answer: their difference is the
        # round trip as the reader thread saw it, whenever the caller gets to wait().
        self.sent_at = time.monotonic()
        self.answered_at: float | None = None

    def _finish(self, result: Any = None, error: Exception | None = None) -> None:
        self._result, self._error = result, error
        self.answered_at = time.monotonic()
        self._done.set()

    @property
    def round_trip(self) -> float | None:
        """Seconds from sending the request to its final answer; None while unanswered."""
        if self.answered_at is None:
            return None
        return self.answered_at - self.sent_at

    def done_within(self, timeout: float) -> bool:
        """Whether the final answer arrived within ``timeout`` (nothing is cancelled)."""
        return self._done.wait(timeout)

    def wait(self, timeout: float) -> Any:
        """The op's result; raises AgentError, AgentTimeout or SessionClosed."""
        if not self._done.wait(timeout):
            self.session.cancel(self.id)
            raise AgentTimeout(f"{self.op} got no answer from the agent within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._result


class AgentSession:
    """A conversation with one agent process (protocol: agent/README.md)."""

    def __init__(self, process: AgentProcess, *, name: str) -> None:
        self.process = process
        self.name = name
        self.hello: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, PendingRequest] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._hello_seen = threading.Event()
        self._closed: str | None = None
        self._reader = threading.Thread(
            target=self._read_loop, name=f"agent-reader-{name}", daemon=True
        )

    # -- life cycle -------------------------------------------------------------

    def start(self, timeout: float) -> dict[str, Any]:
        """Start reading and wait for the agent's hello line."""
        self._reader.start()
        if not self._hello_seen.wait(timeout):
            self.close()
            raise AgentTimeout(f"the agent on {self.name} did not say hello within {timeout:g} s")
        if self._closed is not None and not self.hello:
            raise SessionClosed(self._closed)
        return self.hello

    @property
    def alive(self) -> bool:
        return self._closed is None

    def close(self, reason: str = "session closed") -> None:
        self._mark_closed(reason)
        self.process.close()

    # -- requests -----------------------------------------------------------------

    def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> PendingRequest:
        """Send a request without waiting; ``.wait(timeout)`` on the result."""
        request_id = next(self._ids)
        pending = PendingRequest(self, request_id, op, on_progress)
        with self._lock:
            if self._closed is not None:
                raise SessionClosed(self._closed)
            self._pending[request_id] = pending
        line = json.dumps({"id": request_id, "op": op, "args": args or {}}) + "\n"
        self._send(line.encode())
        return pending

    def call(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
    ) -> Any:
        return self.request(op, args, on_progress).wait(timeout)

    def cancel(self, request_id: int) -> None:
        """Ask the agent to stop a request; its final answer still arrives (cancelled)."""
        if self._closed is not None:
            return
        line = json.dumps({"id": next(self._ids), "op": "cancel", "args": {"target": request_id}})
        with contextlib.suppress(SessionClosed):
            self._send((line + "\n").encode())

    def _send(self, data: bytes) -> None:
        try:
            with self._write_lock:
                self.process.write(data)
        except (OSError, EOFError) as exc:
            self.close(f"lost the connection to the agent on {self.name}: {exc}")
            raise SessionClosed(self._closed or "session closed") from None

    # -- reading ------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while raw := self.process.stdout.readline(MAX_LINE_BYTES + 1):
                if len(raw) > MAX_LINE_BYTES:
                    # A host must not grow the worker's memory without bound (a broken
                    # or hostile agent writing an endless line): end this session.
                    self.close(
                        f"the agent on {self.name} wrote a line longer than "
                        f"{MAX_LINE_BYTES} bytes; the session was closed"
                    )
                    return
                self._dispatch(raw)
        except Exception as exc:  # the transport died under us; the reason is reported below
            log.debug("agent reader on %s stopped: %s", self.name, exc)
        self._mark_closed(self._exit_reason())

    def _dispatch(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("agent on %s wrote a line that is not JSON: %r", self.name, raw[:200])
            return
        if not isinstance(message, dict):
            return
        if "hello" in message and not self._hello_seen.is_set():
            self.hello = message["hello"]
            self._hello_seen.set()
            return
        request_id = message.get("id")
        if not isinstance(request_id, int):
            return  # an answer to a line we did not send as a request
        with self._lock:
            pending = self._pending.get(request_id)
        if pending is None:
            return
        if "progress" in message:
            if pending.on_progress is not None:
                try:
                    pending.on_progress(message["progress"])
                except Exception:
                    log.exception("progress callback for %s failed", pending.op)
            return
        with self._lock:
            self._pending.pop(request_id, None)
        if message.get("ok"):
            pending._finish(result=message.get("result"))
        else:
            error = message.get("error") or {}
            pending._finish(
                error=AgentError(
                    str(error.get("code", "unknown")), str(error.get("message", "unknown error"))
                )
            )

    def _exit_reason(self) -> str:
        code = self.process.exit_code(wait=1.0)
        detail = self.process.stderr_text().strip()
        if code is None:
            reason = f"the connection to the agent on {self.name} was lost"
        else:
            reason = f"the agent on {self.name} exited with status {code}"
        if detail:
            reason += f": {detail.splitlines()[-1]}"
        return reason

    def _mark_closed(self, reason: str) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = reason
            pending = list(self._pending.values())
            self._pending.clear()
        for request in pending:
            request._finish(error=SessionClosed(reason))
        self._hello_seen.set()
