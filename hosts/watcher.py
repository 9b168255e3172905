"""Live state: follow every host's Docker event stream and refresh a host as soon as
something changes on it, so changes made outside Berth show up within seconds.

One watcher process (``manage.py watch_fleet``) holds one event subscription per
host on its own pooled agent links. Events are debounced per host and turned
into ordinary ``refresh_host`` tasks, so the workers stay the only writers of
host state and a burst of events costs one refresh. With hosts sharded across
workers (``BERTH_HOST_SHARDS``), ``watch_fleet --shards`` follows only the hosts
of the given shards, so each machine can watch the hosts its own workers serve.

The watcher outlives outages of what it depends on: while Redis or the database
cannot be reached it logs that once, tries again after a growing pause (up to
``retry_max`` seconds) and carries on when they are back; events seen meanwhile
are kept and their refreshes queued then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from agent_link.errors import AgentError, AgentLinkError
from agent_link.launch import AgentLink, LinkConfig
from agent_link.session import PendingRequest
from berth.broker import BROKER_ERRORS

from .agent import agent_link, link_config
from .models import Host
from .tasks import refresh_host

log = logging.getLogger(__name__)

# Connections lost to the broker (kombu, redis) or to the database: wait and try again.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (*BROKER_ERRORS, OperationalError, InterfaceError)


@dataclass
class _Subscription:
    config: LinkConfig
    link: AgentLink
    request: PendingRequest

    @property
    def alive(self) -> bool:
        return self.link.alive and not self.request.done_within(0)


class FleetWatcher:
    """Follows the hosts of the given shards (``hosts.<pk % BERTH_HOST_SHARDS>``), or
    every host when ``shards`` is None. After every pass over the fleet it touches
    ``heartbeat``, so a health check can tell that the watcher still runs."""

    def __init__(
        self,
        *,
        resync_every: float = 2.0,
        debounce: float = 0.3,
        shards: Collection[int] | None = None,
        heartbeat: Path | None = None,
        retry_first: float = 0.5,
        retry_max: float = 5.0,
    ) -> None:
        self.resync_every = resync_every
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.debounce = debounce
        self.shards = set(shards) if shards is not None else None
        self.heartbeat = heartbeat
        self._subscriptions: dict[int, _Subscription] = {}
        self._dirty: dict[int, float] = {}
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        next_sync = 0.0
        pause = 0.0  # > 0 while Redis or the database is away
        while not stop.is_set():
            try:
                if time.monotonic() >= next_sync:
                    self.sync()
                    next_sync = time.monotonic() + self.resync_every
                    if self.heartbeat is not None:
                        self.heartbeat.touch()
                self.flush()
            except OUTAGE_ERRORS as exc:
                pause = min(pause * 2, self.retry_max) if pause else self.retry_first
                if pause == self.retry_first:
                    log.warning("the watcher lost %s: %s; trying again", _which(exc), exc)
                log.debug("next try in %.1f s", pause)
                _drop_database_connection()
                next_sync = 0.0
                stop.wait(pause)
                continue
            except Exception:
                # A bug must not end live state for the whole fleet: log it, pause, go on.
                log.exception("the watcher hit an unexpected error; trying again")
                pause = self.retry_max
                next_sync = 0.0
                stop.wait(pause)
                continue
            if pause:
                log.warning("the watcher is connected again; following the fleet")
                pause = 0.0
            stop.wait(0.1)
        for subscription in self._subscriptions.values():
            subscription.request.session.cancel(subscription.request.id)

    def sync(self) -> None:
        """Subscribe to hosts that have no live subscription; drop removed hosts."""
        hosts = [
            host
            for host in Host.objects.select_related("ssh_key", "jump_host__ssh_key")
            if self.follows(host.pk)
        ]
        for host in hosts:
            current = self._subscriptions.get(host.pk)
            config = link_config(host)
            if current is not None and current.alive and current.config == config:
                continue
            try:
                link = agent_link(host)
                request = link.session.request(
                    "events.stream", {}, on_progress=self._marker(host.pk)
                )
            except (AgentLinkError, AgentError) as exc:
                log.debug("cannot watch %s yet: %s", host.name, exc)
                continue
            self._subscriptions[host.pk] = _Subscription(config, link, request)
            log.info("following the Docker events of %s", host.name)
            # Whatever happened while nobody was listening: catch up once.
            self.mark(host.pk)
        known = {host.pk for host in hosts}
        for pk in set(self._subscriptions) - known:
            gone = self._subscriptions.pop(pk)
            gone.request.session.cancel(gone.request.id)

    def follows(self, host_id: int) -> bool:
        if self.shards is None or settings.BERTH_HOST_SHARDS <= 0:
            return True
        return host_id % settings.BERTH_HOST_SHARDS in self.shards

    def _marker(self, host_id: int) -> Callable[[dict[str, Any]], None]:
        return lambda _event: self.mark(host_id)

    def mark(self, host_id: int) -> None:
        with self._lock:
            self._dirty.setdefault(host_id, time.monotonic())

    def flush(self) -> None:
        """Queue one refresh per host whose first unhandled event is older than the debounce."""
        now = time.monotonic()
        with self._lock:
            due = [pk for pk, since in self._dirty.items() if now - since >= self.debounce]
            for pk in due:
                del self._dirty[pk]
        for index, pk in enumerate(due):
            try:
                refresh_host.delay(pk)
            except BROKER_ERRORS:
                # Not sent: keep them dirty, so they are queued once Redis is back.
                with self._lock:
                    for kept in due[index:]:
                        self._dirty.setdefault(kept, now)
                raise


def _which(exc: Exception) -> str:
    return "the database" if isinstance(exc, DatabaseError) else "the task queue (Redis)"


def _drop_database_connection() -> None:
    # A connection the database dropped stays broken in a long-running process
    # (only requests and tasks recycle theirs): close it, the next query reconnects.
    with contextlib.suppress(DatabaseError):
        connections.close_all()
