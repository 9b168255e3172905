"""Run the fleet watcher: live state from every host's Docker events."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from hosts.watcher import FleetWatcher


class Command(BaseCommand):
    help = "Follow every host's Docker events and refresh hosts as soon as they change."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.stdout.write("watching the fleet's Docker events")
        FleetWatcher().run(stop)
