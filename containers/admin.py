from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from access.permissions import UnscopedAdminChanges

from . import secrets, services
from .models import Container, Secret


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
        _queue("start", services.request_start),
        _queue("stop", services.request_stop),
        _queue("restart", services.request_restart),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Container | None = None) -> bool:
        return False


class _SecretNameMixin:
    cleaned_data: dict[str, Any]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"])
        problem = secrets.secret_name_problem(name)
        if problem:
            raise forms.ValidationError(problem)
        return name


class SecretAddForm(_SecretNameMixin, forms.ModelForm):
    value = forms.CharField(widget=forms.PasswordInput, strip=False)

    class Meta:
        model = Secret
        fields = ["name", "value", "unrestricted", "host_groups"]


class SecretChangeForm(_SecretNameMixin, forms.ModelForm):
    """The stored value is never shown; a new one replaces it, blank keeps it."""

    new_value = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Leave blank to keep the stored value.",
    )

    class Meta:
        model = Secret
        fields = ["name", "unrestricted", "host_groups"]


@admin.register(Secret)
class SecretAdmin(UnscopedAdminChanges, admin.ModelAdmin):
    """Secrets that container specs use by name; every change goes through
    ``containers.secrets`` so it is audited, and the value is never shown. Secrets reach
    containers on every host they allow: admins limited to host groups read names here
    and change nothing (as in the API)."""

    list_display = ["name", "updated_at", "updated_by", "created_at", "created_by"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = SecretAddForm if obj is None else SecretChangeForm
        return super().get_form(request, obj, change, **kwargs)

    filter_horizontal = ["host_groups"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "value", "unrestricted", "host_groups"]
        return ["name", "new_value", "unrestricted", "host_groups", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Secret, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            secrets.update_secret(
                Secret.objects.get(pk=obj.pk),
                name=data["name"],
                value=data.get("new_value") or None,
                host_groups=data["host_groups"],
                unrestricted=data["unrestricted"],
                actor=request.user,
            )
            return
        obj.pk = secrets.create_secret(
            name=data["name"],
            value=data["value"],
            host_groups=data["host_groups"],
            unrestricted=data["unrestricted"],
            actor=request.user,
        ).pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The host groups were set (and audited) by save_model, through the service."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """The delete page and the bulk delete action list what still uses a secret as
        "protected", which makes the admin refuse the deletion and say why."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for secret in objs:
            users = secrets.secret_users(secret.name)
            if users:
                protected = [*protected, secrets.secret_in_use_message(secret, users)]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Secret) -> None:
        secrets.delete_secret(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Secret]) -> None:
        for secret in queryset:
            secrets.delete_secret(secret, actor=request.user)
