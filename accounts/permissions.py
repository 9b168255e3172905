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

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Model, Q, QuerySet
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


def scoped_hosts(user: Any) -> QuerySet:
    """Hosts the user (or their token) may see."""
    from hosts.models import Host

    return scope_queryset(Host.objects.all(), user)


def _host_filter(scope: frozenset[int]) -> QuerySet:
    from hosts.models import Host

    return Host.objects.filter(groups__in=scope).values("pk")


def visible_service_ids(user: Any) -> set[int] | None:
    """Ids of the services whose target hosts are all in scope (None: every service)."""
    from deployments.models import Service
    from deployments.services import target_host_ids

    scope = scope_of(user)
    if scope is None:
        return None
    allowed = set(_host_filter(scope).values_list("pk", flat=True))
    services = Service.objects.only("pk", "host_group", "host_label")
    return {pk for pk, hosts in target_host_ids(services).items() if hosts <= allowed}


def scope_queryset(queryset: QuerySet, user: Any) -> QuerySet:
    """``queryset`` limited to what the user may see (unchanged for an unscoped user)."""
    scope = scope_of(user)
    if scope is None:
        return queryset
    label = queryset.model._meta.label
    hosts = _host_filter(scope)
    if label == "hosts.Host":
        return queryset.filter(pk__in=hosts)
    if label == "hosts.HostGroup":
        return queryset.filter(pk__in=scope)
    if label in {"containers.Container", "images.Image"}:
        return queryset.filter(host__in=hosts)
    if label == "deployments.Service":
        return queryset.filter(pk__in=visible_service_ids(user) or ())
    if label == "deployments.Revision":
        return queryset.filter(service__in=visible_service_ids(user) or ())
    if label == "deployments.Rollout":
        from hosts.models import Host

        return queryset.exclude(hosts__host__in=Host.objects.exclude(pk__in=hosts))
    if label == "operations.Operation":
        services = [str(pk) for pk in visible_service_ids(user) or ()]
        return queryset.filter(
            Q(host__in=hosts)
            | Q(host__isnull=True, actor=user if user.is_authenticated else None)
            | Q(host__isnull=True, target_type="service", target_id__in=services)
        )
    return queryset


def hosts_in_scope(user: Any, hosts: Iterable[Model]) -> bool:
    """Whether every one of ``hosts`` is in the user's scope."""
    wanted = {host.pk for host in hosts}
    if scope_of(user) is None:
        return True
    return wanted <= set(scoped_hosts(user).filter(pk__in=wanted).values_list("pk", flat=True))


class ScopedQuerysetMixin:
    """For viewsets: ``get_queryset`` limited to the caller's scope; creates and updates
    that would land outside it are refused (403) and rolled back."""

    request: Any

    def get_queryset(self) -> QuerySet:
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
