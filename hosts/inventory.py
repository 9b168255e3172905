"""What a refresh reads from a host besides its facts.

Each app that keeps a table of a host's objects (containers, images) registers the
agent op that lists them and the function that stores the answer, when it is ready.
A refresh sends every registered op at once and stores every answer in one
transaction with the host's new status, so this app needs to know none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .models import Host

Store = Callable[[Host, list[dict[str, Any]]], object]


@dataclass(frozen=True)
class Inventory:
    name: str
    op: str  # the agent op that lists them
    store: Store  # stores what the host reported, replacing what was known
    args: dict[str, Any] = field(default_factory=dict)


_INVENTORIES: dict[str, Inventory] = {}


def register_inventory(
    name: str, op: str, store: Store, args: dict[str, Any] | None = None
) -> None:
    """Have every refresh read ``op`` from the host and pass the answer to ``store``."""
    inventory = Inventory(name, op, store, args or {})
    if _INVENTORIES.get(name, inventory) != inventory:
        raise ImproperlyConfigured(f"two inventories named {name}")
    _INVENTORIES[name] = inventory


def inventories() -> list[Inventory]:
    return list(_INVENTORIES.values())
