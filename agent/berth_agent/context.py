"""Per-request context handed to every op: cancellation and progress reporting."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable

from berth_agent.protocol import CANCELLED, AgentError, write_message


class OpContext:
    """What an op may use besides its args: its request id, a cancel event, progress lines."""

    def __init__(self, req_id: Any, op: str) -> None:
        self.req_id = req_id
        self.op = op
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._on_cancel: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        """Set the cancel event and run the registered callbacks (e.g. close a stream)."""
        with self._lock:
            self.cancel_event.set()
            callbacks, self._on_cancel = self._on_cancel, []
        for cb in callbacks:
            with contextlib.suppress(Exception):
                cb()

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
