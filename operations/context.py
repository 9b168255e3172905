"""What an action handler gets besides its Operation: progress reporting, a stream
for line output, and cancellation that reaches the agent."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from . import streams
from .models import Operation

if TYPE_CHECKING:
    from hosts.agent_link.session import PendingRequest

PROGRESS_EVERY = 0.5  # seconds between progress writes to the database
CANCEL_CHECK_EVERY = 0.5  # seconds between looks at the cancel flag
CANCEL_GRACE = 15.0  # seconds the agent gets to stop and answer after a cancel


class OperationCancelled(Exception):
    """Someone cancelled the operation; it stopped before finishing."""


class OperationFailed(Exception):
    """The action could not be done; the message says why, for the operator."""


class OperationContext:
    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self._last_progress_write = 0.0
        self._last_cancel_check = 0.0
        self._stream_buffer: list[dict[str, Any]] = []
        # Agent progress callbacks call progress()/stream() on the session's reader thread:
        # they only buffer there; the handler's thread (the owner) writes.
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._progress_pending = False

    # -- progress --------------------------------------------------------------------

    def progress(self, force: bool = False, **fields: Any) -> None:
        """Merge ``fields`` into the operation's progress, written at most twice a second."""
        with self._lock:
            self.operation.progress = {**self.operation.progress, **fields}
        if threading.get_ident() != self._owner:
            self._progress_pending = True
            return  # written by the owner's next flush (context.wait flushes twice a second)
        now = time.monotonic()
        if force or now - self._last_progress_write >= PROGRESS_EVERY:
            self._last_progress_write = now
            self._progress_pending = False
            Operation.objects.filter(pk=self.operation.pk).update(progress=self.operation.progress)

    def stream(self, item: dict[str, Any]) -> None:
        """Add a line to the operation's stream (flushed with progress, and at the end)."""
        with self._lock:
            self._stream_buffer.append(item)
            full = len(self._stream_buffer) >= 200
        if full and threading.get_ident() == self._owner:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            items, self._stream_buffer = self._stream_buffer, []
        streams.append(self.operation.pk, items)
        self.progress(force=True)

    # -- cancellation ----------------------------------------------------------------

    def cancel_requested(self) -> bool:
        now = time.monotonic()
        if now - self._last_cancel_check >= CANCEL_CHECK_EVERY:
            self._last_cancel_check = now
            self.operation.cancel_requested = (
                Operation.objects.filter(pk=self.operation.pk)
                .values_list("cancel_requested", flat=True)
                .get()
            )
        return self.operation.cancel_requested

    def check_cancelled(self) -> None:
        if self.cancel_requested():
            raise OperationCancelled()

    def wait(self, pending: PendingRequest, timeout: float) -> Any:
        """Wait for an agent request's answer, passing a cancel on to the agent.

        A cancelled request ends with the agent's ``cancelled`` error, which the
        runner records as a cancelled operation.
        """
        deadline = time.monotonic() + timeout
        while not pending.done_within(min(CANCEL_CHECK_EVERY, max(deadline - time.monotonic(), 0))):
            if self._stream_buffer or self._progress_pending:
                self.flush()
            if self.cancel_requested():
                pending.session.cancel(pending.id)
                return pending.wait(CANCEL_GRACE)
            if time.monotonic() >= deadline:
                return pending.wait(0)  # raises AgentTimeout and cancels on the agent
        return pending.wait(0)
