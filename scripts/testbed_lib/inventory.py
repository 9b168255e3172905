"""The inventory files that describe the hosts to the tests."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import INVENTORY, KEY_PHRASE, REGISTRY, SCALE_INVENTORY, TestbedError
from .hosts import Host, ScaleHost


def host_by_name(name: str) -> Host:
    """A host of the test bed (hN) or a light host (sN)."""
    match = re.fullmatch(r"([hs])(\d+)", name)
    hosts = {host["name"] for host in read_inventory()["hosts"]}
    if SCALE_INVENTORY.exists():
        hosts |= {host["name"] for host in read_inventory(SCALE_INVENTORY)["hosts"]}
    if not match or name not in hosts:
        raise TestbedError(f"unknown host {name!r}; the test bed has {sorted(hosts)}")
    kind = ScaleHost if match.group(1) == "s" else Host
    return kind(int(match.group(2)))


def write_inventory(hosts: Sequence[Host], keys: dict[str, Path], path: Path = INVENTORY) -> None:
    inventory = {
        "registry": REGISTRY,
        "client_keys": {
            **{label: str(path) for label, path in keys.items()},
            "passphrase": KEY_PHRASE,
        },
        "hosts": [
            {
                "name": host.name,
                "address": host.address,
                "port": 22,
                "user": "root",
                "private_key": str(keys["ed25519"]),
                "host_key": host.public_host_key(),
                "docker_host": host.docker_host,
                "netns": host.netns,
                "link": host.link,
                "hostname": host.hostname,
                "home": str(host.home),
            }
            for host in hosts
        ],
    }
    save_inventory(inventory, path)


def save_inventory(inventory: dict[str, Any], path: Path = INVENTORY) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(inventory, indent=2) + "\n")
    temporary.replace(path)


def read_inventory(path: Path = INVENTORY) -> dict[str, Any]:
    try:
        inventory: dict[str, Any] = json.loads(path.read_text())
        return inventory
    except FileNotFoundError:
        raise TestbedError(f"no test bed: {path} is missing (run `up N` first)") from None


def update_inventory_host_key(host: Host) -> None:
    inventory = read_inventory()
    for entry in inventory["hosts"]:
        if entry["name"] == host.name:
            entry["host_key"] = host.public_host_key()
    save_inventory(inventory)
