"""Register this machine's Docker engine as a host (local transport, no SSH), on request.

Whoever can run containers on that engine can mount the Berth server's own files
(its database, ``var/secrets/``) and so read every SSH key Berth holds. It is
registered only when asked for: ``--register`` or ``BERTH_REGISTER_LOCAL=1``.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

from django.core.management.base import BaseCommand

from hosts import services
from hosts.choices import Transport
from hosts.models import Host

LOCAL_HOST_WARNING = (
    "this host is the Berth server itself: whoever can run containers on it can read "
    "Berth's secrets"
)


class Command(BaseCommand):
    help = (
        "Register the local Docker engine as the host 'local' when it answers, only with "
        "--register or BERTH_REGISTER_LOCAL=1 (it is the Berth server's own engine)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--docker-host", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        )
        parser.add_argument(
            "--register",
            action="store_true",
            default=os.environ.get("BERTH_REGISTER_LOCAL", "").strip().lower()
            in {"1", "true", "yes", "on"},
            help="Register it (default: only when BERTH_REGISTER_LOCAL=1)",
        )

    def handle(self, *args: Any, docker_host: str, register: bool, **options: Any) -> None:
        if Host.objects.filter(transport=Transport.LOCAL).exists():
            self.stdout.write("The local Docker engine is already registered.")
            self.stderr.write(f"Warning: {LOCAL_HOST_WARNING}.")
            return
        if not register:
            self.stdout.write(
                "Not registering the local Docker engine (set BERTH_REGISTER_LOCAL=1 to: "
                f"{LOCAL_HOST_WARNING})."
            )
            return
        if not _answers(docker_host):
            self.stdout.write(f"No Docker engine answers at {docker_host}; not registering it.")
            return
        services.register_host(name="local", transport=Transport.LOCAL, docker_host=docker_host)
        self.stdout.write(f"Registered the local Docker engine ({docker_host}) as host 'local'.")
        self.stderr.write(f"Warning: {LOCAL_HOST_WARNING}.")


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
