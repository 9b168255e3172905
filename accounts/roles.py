"""Who may do what: three roles, each including the one before it.

- viewer: read everything in their scope
- operator: also act on containers, images and deployments
- admin: also hosts, credentials, users and tokens
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def role_of(user: Any) -> Role | None:
    """The user's role, or None for an anonymous or inactive user."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return Role.OPERATOR if user.is_staff else Role.VIEWER


def has_role(user: Any, role: Role) -> bool:
    current = role_of(user)
    return current is not None and current >= role
