"""Who may do what: three roles, each including the one before it, and host-group scopes.

- viewer: read everything in their scope
- operator: also act on containers, images and deployments
- admin: also hosts, credentials, users and tokens

A user's role and scope come from their profile (``accounts.models.Profile``); a
superuser is an admin. A user without a profile (created before profiles existed,
or by ``createsuperuser``) is an operator when ``is_staff``, else a viewer.

A scope is "every host" only when it says so (``unrestricted`` on the profile or the
token); otherwise it is the host groups listed, and none listed means no host.

A request authenticated with an API token acts with ``min(user role, token role)``
and the intersection of the user's and the token's host groups: the token
authentication class puts the token on the user object (``BERTH_TOKEN_ATTR``),
so ``role_of(request.user)`` and ``scope_of(request.user)`` answer for the token too.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

BERTH_TOKEN_ATTR = "berth_api_token"  # noqa: S105  (an attribute name)
_SCOPE_CACHE_ATTR = "_berth_scope_cache"


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Role:
        return cls[label.upper()]


def _profile(user: Any) -> Any:
    try:
        return user.berth_profile
    except ObjectDoesNotExist:  # no profile yet
        return None


def _token(user: Any) -> Any:
    return getattr(user, BERTH_TOKEN_ATTR, None)


def assigned_role(user: Any) -> Role:
    """The role the user was given (superuser: admin), whatever token they use."""
    if user.is_superuser:
        return Role.ADMIN
    profile = _profile(user)
    if profile is not None:
        return Role.from_label(profile.role)
    return Role.OPERATOR if user.is_staff else Role.VIEWER


def role_of(user: Any) -> Role | None:
    """The user's effective role, or None for an anonymous or inactive user."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    role = assigned_role(user)
    token = _token(user)
    if token is not None:
        role = min(role, Role.from_label(token.role))
    return role


def has_role(user: Any, role: Role) -> bool:
    current = role_of(user)
    return current is not None and current >= role


def scope_of(user: Any) -> frozenset[int] | None:
    """The ids of the host groups the user (or their token) is limited to.

    ``None`` means every host: a superuser, a user without a profile (made before
    profiles, or by ``createsuperuser``) or one whose profile is ``unrestricted``. An
    empty set means no host at all: a limited user or token without groups (their
    last group taken away), or a token whose groups do not overlap its user's.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    if hasattr(user, _SCOPE_CACHE_ATTR):
        cached: frozenset[int] | None = getattr(user, _SCOPE_CACHE_ATTR)
        return cached
    scope: frozenset[int] | None = None
    profile = None if user.is_superuser else _profile(user)  # superusers: every host
    if profile is not None and not profile.unrestricted:
        scope = frozenset(profile.host_groups.values_list("pk", flat=True))
    token = _token(user)
    if token is not None and not token.unrestricted:
        token_groups = frozenset(token.host_groups.values_list("pk", flat=True))
        scope = token_groups if scope is None else scope & token_groups
    setattr(user, _SCOPE_CACHE_ATTR, scope)
    return scope


def forget_scope(user: Any) -> None:
    """Drop the scope cached on this user object (after their profile changed)."""
    if hasattr(user, _SCOPE_CACHE_ATTR):
        delattr(user, _SCOPE_CACHE_ATTR)
