"""Agent links pooled per worker process: one per host, opened lazily after fork
and reused by every task that targets the host.

A host that cannot be reached is not retried on every request: after a failed
attempt the pool waits (exponential backoff with jitter) before dialling again,
answering meanwhile with the last error, so a dead host costs one connect
timeout per backoff period rather than one per task.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import AgentLinkError
from .launch import AgentLink, LinkConfig, Timeouts, open_link


@dataclass
class _Backoff:
    config: LinkConfig
    failures: int
    retry_at: float
    error: AgentLinkError


class LinkPool:
    def __init__(
        self,
        opener: Callable[[LinkConfig, Timeouts], AgentLink] = open_link,
        *,
        backoff_base: float = 2.0,
        backoff_max: float = 60.0,
    ) -> None:
        self._opener = opener
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._links: dict[int, tuple[LinkConfig, AgentLink]] = {}
        self._backoff: dict[int, _Backoff] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: int, config: LinkConfig, timeouts: Timeouts) -> AgentLink:
        """The live link for ``key``, opening a new one if there is none or its config changed."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._links.get(key)
            if entry is not None:
                old_config, link = entry
                if old_config == config and link.alive:
                    return link
                self._links.pop(key, None)
                link.close()
            backoff = self._backoff.get(key)
            if backoff is not None and backoff.config == config:
                wait = backoff.retry_at - time.monotonic()
                if wait > 0:
                    raise backoff.error.with_note(f"(next attempt in {wait:.0f} s)")
            try:
                link = self._opener(config, timeouts)
            except AgentLinkError as exc:
                if exc.retryable:
                    self._note_failure(key, config, exc)
                raise
            self._backoff.pop(key, None)
            self._links[key] = (config, link)
            return link

    def _note_failure(self, key: int, config: LinkConfig, error: AgentLinkError) -> None:
        previous = self._backoff.get(key)
        failures = previous.failures + 1 if previous and previous.config == config else 1
        delay = min(self.backoff_base * 2 ** (failures - 1), self.backoff_max)
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        self._backoff[key] = _Backoff(config, failures, time.monotonic() + delay, error)

    def discard(self, key: int) -> None:
        """Abort and forget a link (after a timeout, a dropped connection or a change)."""
        entry = self._links.pop(key, None)
        if entry is not None:
            entry[1].abort()

    def reset_backoff(self, key: int) -> None:
        self._backoff.pop(key, None)

    def close_all(self) -> None:
        for key in list(self._links):
            self.discard(key)

    def forget_all(self) -> None:
        """Drop links inherited over fork() without touching the parent's sockets."""
        self._links.clear()
        self._backoff.clear()
        self._locks.clear()
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._links)


pool = LinkPool()
os.register_at_fork(after_in_child=pool.forget_all)
