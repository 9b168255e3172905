"""Register this machine's Docker engine as a host (local transport, no SSH)."""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

from django.core.management.base import BaseCommand

from hosts import services
from hosts.choices import Transport
from hosts.models import Host


class Command(BaseCommand):
    help = "Register the local Docker engine as the host 'local' when it answers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--docker-host", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        )

    def handle(self, *args: Any, docker_host: str, **options: Any) -> None:
        if Host.objects.filter(transport=Transport.LOCAL).exists():
            self.stdout.write("The local Docker engine is already registered.")
            return
        if not _answers(docker_host):
            self.stdout.write(f"No Docker engine answers at {docker_host}; not registering it.")
            return
        services.register_host(name="local", transport=Transport.LOCAL, docker_host=docker_host)
        self.stdout.write(f"Registered the local Docker engine ({docker_host}) as host 'local'.")


def _answers(docker_host: str) -> bool:
    url = urlparse(docker_host)
    if url.scheme != "unix":
        return False
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        try:
            sock.connect(url.path)
        except OSError:
            return False
    return True
