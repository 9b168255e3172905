from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Container


def _queue(
    verb: str, service: Callable[..., Any]
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Container]], None]:
    def run(model_admin: admin.ModelAdmin, request: HttpRequest, rows: QuerySet[Container]) -> None:
        operations = [service(row, actor=request.user) for row in rows.select_related("host")]
        model_admin.message_user(
            request,
            f"Queued {verb} of {len(operations)} container(s); see Operations for the outcome.",
            messages.SUCCESS,
        )

    run.__name__ = f"{verb}_selected"
    return admin.action(description=f"{verb.capitalize()} selected containers")(run)


@admin.register(Container)
class ContainerAdmin(admin.ModelAdmin):
    """Containers as their hosts report them: read-only rows, changed only through actions."""

    list_display = ["name", "host", "image", "state", "health", "updated_at"]
    list_filter = ["state", "health", "host"]
    search_fields = ["name", "image", "container_id"]
    list_select_related = ["host"]
    actions = [
        _queue("start", services.start_container),
        _queue("stop", services.stop_container),
        _queue("restart", services.restart_container),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Container | None = None) -> bool:
        return False
