"""Per-request context handed to every op: cancellation and progress reporting."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

from berth_agent.protocol import CANCELLED, AgentError, write_message


class OpContext:
    """What an op may use besides its args: its request id, a cancel event, progress lines."""

    def __init__(self, req_id: Any, op: str) -> None:
        self.req_id = req_id
        self.op = op
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._on_cancel: list[Callable[[], None]] = []
        self._finish_on_eof = False

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        """Set the cancel event and run the registered callbacks (e.g. close a stream)."""
        with self._lock:
            callbacks = self._set_cancelled_locked()
        self._run_callbacks(callbacks)

    def cancel_for_eof(self) -> bool:
        """Stdin closed: cancel unless the op is inside ``finish_on_eof()``.

        Returns True if it was cancelled, False if the agent must wait for it to finish.
        """
        with self._lock:
            if self._finish_on_eof:
                return False
            callbacks = self._set_cancelled_locked()
        self._run_callbacks(callbacks)
        return True

    def _set_cancelled_locked(self) -> list[Callable[[], None]]:
        self.cancel_event.set()
        callbacks, self._on_cancel = self._on_cancel, []
        return callbacks

    @staticmethod
    def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
        for cb in callbacks:
            with contextlib.suppress(Exception):
                cb()

    @contextlib.contextmanager
    def finish_on_eof(self) -> Iterator[None]:
        """Mark a section that must never be abandoned half-way (it changes the host).

        Inside it, stdin EOF does not cancel the op and the agent waits for it before it
        exits; an explicit ``cancel`` still sets the cancel event, so the op may undo.
        Raises ``cancelled`` on entry if the op was cancelled already (nothing changed yet).
        """
        with self._lock:
            if self.cancel_event.is_set():
                raise AgentError(CANCELLED, f"{self.op} was cancelled")
            self._finish_on_eof = True
        try:
            yield
        finally:
            with self._lock:
                self._finish_on_eof = False

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when cancelled (immediately if already cancelled)."""
        with self._lock:
            if not self.cancel_event.is_set():
                self._on_cancel.append(callback)
                return
        callback()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise AgentError(CANCELLED, f"{self.op} was cancelled")

    def progress(self, data: dict[str, Any]) -> None:
        write_message({"id": self.req_id, "progress": data})
