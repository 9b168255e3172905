"""What an action handler gets besides its Operation: progress reporting, a stream
for line output, and the cancel flag (hosts.agent.HostAgent passes a cancel on to
the agent)."""

from __future__ import annotations

import threading
import time
from typing import Any

from . import streams
from .models import Operation

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
            return  # written by the owner's next flush (a waiting HostAgent flushes it each tick)
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

    def flush_if_pending(self) -> None:
        """Write buffered stream lines and progress now (a waiting caller's tick)."""
        if self._stream_buffer or self._progress_pending:
            self.flush()
