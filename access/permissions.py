"""Roles and host-group scopes, enforced on every API view.

Roles (``RolePermission``, the default permission class of the API):

- a read (GET, HEAD, OPTIONS) needs ``view.read_role`` (default viewer);
- a write needs ``view.action_roles[view.action]`` when the view lists its action
  there, else ``view.write_role`` (default admin: a view must opt in to operators);
- ``view.unscoped_only``: also refuse callers limited to host groups (user and
  token management, where a scoped admin could otherwise widen their own scope).

Scopes (``scope_queryset`` and ``ScopedQuerysetMixin``): a caller limited to host
groups sees only

- hosts in those groups, and those groups;
- containers, images and operations of those hosts, plus operations without a
  host that they started themselves or that belong to a service they can see;
- services whose target hosts (listed, group and label, resolved now) are all in
  scope, with their revisions; rollouts whose hosts are all in scope.

Everything else (registry credentials) is not host-bound and is not scoped.
Something out of scope is answered 404, as if it did not exist. A create or update
that would leave the object out of the caller's scope (a host outside their groups,
a service aimed at other hosts) is refused with 403 and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import QuerySet
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .roles import Role, role_of, scope_of


def required_role(request: Request, view: Any) -> Role:
    """The role a request to ``view`` needs (see the module docstring)."""
    if request.method in SAFE_METHODS:
        return getattr(view, "read_role", Role.VIEWER)
    action_roles: dict[str, Role] = getattr(view, "action_roles", {})
    action = getattr(view, "action", None)
    if action in action_roles:
        return action_roles[action]
    return getattr(view, "write_role", Role.ADMIN)


class RolePermission(BasePermission):
    """Allow the request when the caller's effective role is at least the one it needs."""

    message = "You are not allowed to do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        role = role_of(request.user)
        if role is None:
            return False
        needed = required_role(request, view)
        if role < needed:
            self.message = f"This needs the {needed.label} role; you act as {role.label}."
            return False
        if getattr(view, "unscoped_only", False) and scope_of(request.user) is not None:
            self.message = "This needs an admin who is not limited to host groups."
            return False
        return True


# --- scoping -------------------------------------------------------------------------------

# How a model's rows are limited to a scope (a frozenset of host group ids), by model
# label. Each app registers the rules for its own models when it is ready (its
# ``scoping`` module), so this module knows no app; a model without a rule is not
# host-bound and is not scoped.
ScopeRule = Callable[[QuerySet[Any], frozenset[int], Any], QuerySet[Any]]
_SCOPE_RULES: dict[str, ScopeRule] = {}


def scope_rule(label: str) -> Callable[[ScopeRule], ScopeRule]:
    """Register ``rule(queryset, scope, user)`` as how rows of the model ``label``
    (``"app.Model"``) are limited to a scope."""

    def register(rule: ScopeRule) -> ScopeRule:
        if _SCOPE_RULES.get(label, rule) is not rule:
            raise ImproperlyConfigured(f"two scope rules for {label}")
        _SCOPE_RULES[label] = rule
        return rule

    return register


def scope_queryset(queryset: QuerySet[Any], user: Any) -> QuerySet[Any]:
    """``queryset`` limited to what the user may see (unchanged for an unscoped user)."""
    scope = scope_of(user)
    if scope is None:
        return queryset
    rule = _SCOPE_RULES.get(queryset.model._meta.label)
    return rule(queryset, scope, user) if rule is not None else queryset


class ScopedQuerysetMixin:
    """For viewsets: ``get_queryset`` limited to the caller's scope; creates and updates
    that would land outside it are refused (403) and rolled back."""

    request: Any

    def get_queryset(self) -> QuerySet[Any]:
        return scope_queryset(super().get_queryset(), self.request.user)  # type: ignore[misc]

    def _save_in_scope(self, save: Any, serializer: Any) -> None:
        with transaction.atomic():
            save(serializer)
            instance = serializer.instance
            if scope_of(self.request.user) is None:
                return
            model = type(instance)
            mine = model._default_manager.filter(pk=instance.pk)
            if not scope_queryset(mine, self.request.user).exists():
                raise PermissionDenied(
                    f"This {model._meta.verbose_name} would be outside the host groups you "
                    "are limited to."
                )

    def perform_create(self, serializer: Any) -> None:
        self._save_in_scope(super().perform_create, serializer)  # type: ignore[misc]

    def perform_update(self, serializer: Any) -> None:
        self._save_in_scope(super().perform_update, serializer)  # type: ignore[misc]


class UnscopedAdminChanges:
    """For a Django ``ModelAdmin``: only callers not limited to host groups may add,
    change or delete (the admin's twin of ``view.unscoped_only``); with
    ``unscoped_view``, only they may see the model at all. Put it before
    ``admin.ModelAdmin`` in the bases."""

    unscoped_view = False

    def _unscoped(self, request: Any) -> bool:
        return scope_of(request.user) is None

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        allowed: bool = super().has_view_permission(request, obj)  # type: ignore[misc]
        return allowed and (not self.unscoped_view or self._unscoped(request))

    def has_add_permission(self, request: Any) -> bool:
        allowed: bool = super().has_add_permission(request)  # type: ignore[misc]
        return allowed and self._unscoped(request)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        allowed: bool = super().has_change_permission(request, obj)  # type: ignore[misc]
        return allowed and self._unscoped(request)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        allowed: bool = super().has_delete_permission(request, obj)  # type: ignore[misc]
        return allowed and self._unscoped(request)
