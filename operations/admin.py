from django.contrib import admin
from django.http import HttpRequest

from .models import Operation


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at runtime
    """The audit trail is read-only, in the admin as everywhere else."""

    list_display = ["created_at", "action", "target_name", "actor_name", "status"]
    list_filter = ["status", "action", "target_type"]
    search_fields = ["target_name", "actor_name", "error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
