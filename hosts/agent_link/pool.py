"""Agent links pooled per worker process: one per host, opened lazily after fork
and reused by every task that targets the host."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from .launch import AgentLink, LinkConfig, Timeouts, open_link


class LinkPool:
    def __init__(self, opener: Callable[[LinkConfig, Timeouts], AgentLink] = open_link) -> None:
        self._opener = opener
        self._links: dict[int, tuple[LinkConfig, AgentLink]] = {}
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
            link = self._opener(config, timeouts)
            self._links[key] = (config, link)
            return link

    def discard(self, key: int) -> None:
        """Close and forget a link (after a timeout or a dropped connection)."""
        entry = self._links.pop(key, None)
        if entry is not None:
            entry[1].close()

    def close_all(self) -> None:
        for key in list(self._links):
            self.discard(key)

    def forget_all(self) -> None:
        """Drop links inherited over fork() without touching the parent's sockets."""
        self._links.clear()
        self._locks.clear()
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._links)


pool = LinkPool()
os.register_at_fork(after_in_child=pool.forget_all)
