"""Run the fleet watcher: live state from every host's Docker events."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.watcher import FleetWatcher


class Command(BaseCommand):
    help = "Follow every host's Docker events and refresh hosts as soon as they change."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--shards",
            default="",
            help="follow only the hosts of these shards, e.g. 0,1 (with BERTH_HOST_SHARDS set)",
        )
        parser.add_argument(
            "--heartbeat-file",
            type=Path,
            help="touch this file after every pass over the fleet (for health checks)",
        )

    def handle(self, *args: Any, shards: str, heartbeat_file: Path | None, **options: Any) -> None:
        chosen = _parse_shards(shards)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        which = f" of shards {sorted(chosen)}" if chosen is not None else ""
        self.stdout.write(f"watching the Docker events of the fleet's hosts{which}")
        FleetWatcher(shards=chosen, heartbeat=heartbeat_file).run(stop)


def _parse_shards(raw: str) -> set[int] | None:
    if not raw.strip():
        return None
    count = settings.BERTH_HOST_SHARDS
    if count <= 0:
        raise CommandError("--shards needs BERTH_HOST_SHARDS set to the number of shards")
    try:
        chosen = {int(item) for item in raw.split(",") if item.strip()}
    except ValueError:
        raise CommandError(f"--shards takes shard numbers like 0,1, not {raw!r}") from None
    outside = sorted(index for index in chosen if not 0 <= index < count)
    if outside:
        raise CommandError(f"shards {outside} do not exist: BERTH_HOST_SHARDS is {count}")
    return chosen
