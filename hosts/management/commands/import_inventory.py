"""Register the hosts of an inventory file (as written by scripts/testbed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hosts import services
from hosts.models import Host, SSHKey


class Command(BaseCommand):
    help = "Register every host listed in an inventory JSON file, pinning the host keys it gives."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("inventory", type=Path)

    @transaction.atomic
    def handle(self, *args: Any, inventory: Path, **options: Any) -> None:
        try:
            data = json.loads(inventory.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {inventory}: {exc}") from None
        keys: dict[str, SSHKey] = {}
        for entry in data["hosts"]:
            if Host.objects.filter(name=entry["name"]).exists():
                self.stdout.write(f"{entry['name']}: already registered")
                continue
            key_path = entry["private_key"]
            if key_path not in keys:
                name = f"inventory {Path(key_path).name}"
                keys[key_path] = SSHKey.objects.filter(name=name).first() or (
                    services.create_ssh_key(name=name, private_key=Path(key_path).read_text())
                )
            services.register_host(
                name=entry["name"],
                address=entry["address"],
                port=entry.get("port", 22),
                username=entry.get("user", "root"),
                ssh_key=keys[key_path],
                docker_host=entry.get("docker_host", ""),
                host_key=entry.get("host_key", ""),
            )
            self.stdout.write(f"{entry['name']}: registered")
