"""Live state: follow every host's Docker event stream and refresh a host as soon as
something changes on it, so changes made outside Berth show up within seconds.

One watcher process (``manage.py watch_fleet``) holds one event subscription per
host on its own pooled agent links. Events are debounced per host and turned
into ordinary ``refresh_host`` tasks, so the workers stay the only writers of
host state and a burst of events costs one refresh. With hosts sharded across
workers (``BERTH_HOST_SHARDS``), ``watch_fleet --shards`` follows only the hosts
of the given shards, so each machine can watch the hosts its own workers serve.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from hosts.agent_link.errors import AgentError, AgentLinkError
from hosts.agent_link.launch import AgentLink, LinkConfig
from hosts.agent_link.session import PendingRequest

from . import services
from .models import Host

log = logging.getLogger(__name__)


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
    ) -> None:
        self.resync_every = resync_every
        self.debounce = debounce
        self.shards = set(shards) if shards is not None else None
        self.heartbeat = heartbeat
        self._subscriptions: dict[int, _Subscription] = {}
        self._dirty: dict[int, float] = {}
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        next_sync = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_sync:
                self.sync()
                next_sync = time.monotonic() + self.resync_every
                if self.heartbeat is not None:
                    self.heartbeat.touch()
            self.flush()
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
            config = services.link_config(host)
            if current is not None and current.alive and current.config == config:
                continue
            try:
                link = services.agent_link(host)
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
        from .tasks import refresh_host

        now = time.monotonic()
        with self._lock:
            due = [pk for pk, since in self._dirty.items() if now - since >= self.debounce]
            for pk in due:
                del self._dirty[pk]
        for pk in due:
            refresh_host.delay(pk)
