from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from access.permissions import UnscopedAdminChanges, scope_queryset
from agent_link.ssh import load_private_key

from . import services
from .models import Host, HostGroup, JumpHost, SSHKey


def _approve_offered_keys(
    model_admin: admin.ModelAdmin, request: HttpRequest, endpoints: QuerySet[Any]
) -> None:
    # The change list shows each offered key beside the action: what is offered now is
    # what the admin selected.
    for endpoint in endpoints:
        try:
            services.approve_host_key(
                endpoint, fingerprint=endpoint.host_key_offered_fingerprint, actor=request.user
            )
        except ValueError as exc:
            model_admin.message_user(request, str(exc), messages.WARNING)


class SSHKeyAddForm(forms.ModelForm):
    private_key = forms.CharField(widget=forms.Textarea, strip=False)
    passphrase = forms.CharField(widget=forms.PasswordInput, required=False, strip=False)

    class Meta:
        model = SSHKey
        fields = ["name", "private_key", "passphrase"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("private_key"):
            try:
                load_private_key(data["private_key"], data.get("passphrase", ""))
            except ValueError as exc:
                self.add_error("private_key", str(exc))
        return data


@admin.register(SSHKey)
class SSHKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "fingerprint", "created_at"]
    # The private key is write-once: after entry only the public half is shown.
    readonly_fields = ["public_key", "fingerprint", "created_at"]

    @method_decorator(sensitive_post_parameters("private_key", "passphrase"))
    def changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(*args, **kwargs)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = SSHKeyAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "private_key", "passphrase"]
        return ["name", "public_key", "fingerprint", "created_at"]

    def save_model(self, request: HttpRequest, obj: SSHKey, form: Any, change: bool) -> None:
        if change:
            services.rename_ssh_key(obj, name=form.cleaned_data["name"], actor=request.user)
            return
        created = services.add_ssh_key(
            name=form.cleaned_data["name"],
            private_key=form.cleaned_data["private_key"],
            passphrase=form.cleaned_data.get("passphrase", ""),
            actor=request.user,
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: SSHKey) -> None:
        services.delete_ssh_key(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SSHKey]) -> None:
        for key in queryset:
            services.delete_ssh_key(key, actor=request.user)


# What the host admin's form may set (the rest is reported by the host).
HOST_FORM_FIELDS = {
    "name", "transport", "address", "port", "username", "ssh_key", "host_key", "jump_host",
    "docker_host", "labels", "groups",
}  # fmt: skip


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "transport", "status", "last_seen_at", "docker_version",
                    "host_key_offered_fingerprint"]  # fmt: skip
    list_filter = ["status", "transport"]
    search_fields = ["name", "address"]
    readonly_fields = ["authorized_keys_line", *Host.REPORTED_FIELDS]
    actions = ["approve_offered_host_key", "refresh_now"]

    @admin.display(description="authorized_keys line (the agent and its files only)")
    def authorized_keys_line(self, obj: Host) -> str:
        return services.authorized_keys_line(obj)

    # Every door changes hosts through the same services, so each change is audited.
    def save_model(self, request: HttpRequest, obj: Host, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in HOST_FORM_FIELDS & set(form.fields)}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            services.update_host(obj, actor=request.user, **changed)
            return
        obj.pk = services.register_host(actor=request.user, **data).pk

    def delete_model(self, request: HttpRequest, obj: Host) -> None:
        services.remove_host(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Host]) -> None:
        for host in queryset:
            services.remove_host(host, actor=request.user)

    @admin.action(description="Approve the host key each host offered")
    def approve_offered_host_key(self, request: HttpRequest, queryset: QuerySet[Host]) -> None:
        _approve_offered_keys(self, request, queryset)

    @admin.action(description="Refresh now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[Host]) -> None:
        for host in queryset:
            services.request_refresh(host, actor=request.user)
        self.message_user(request, f"Refresh queued for {queryset.count()} host(s).")


@admin.register(JumpHost)
class JumpHostAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "port", "username", "host_key_offered_fingerprint"]
    readonly_fields = ["host_key_offered"]
    actions = ["approve_offered_host_key"]

    def save_model(self, request: HttpRequest, obj: JumpHost, form: Any, change: bool) -> None:
        services.save_jump_host(
            obj, actor=request.user, created=not change, changed=form.changed_data
        )

    def delete_model(self, request: HttpRequest, obj: JumpHost) -> None:
        services.delete_jump_host(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[JumpHost]) -> None:
        for jump_host in queryset:
            services.delete_jump_host(jump_host, actor=request.user)

    @admin.action(description="Approve the host key each jump host offered")
    def approve_offered_host_key(self, request: HttpRequest, queryset: QuerySet[JumpHost]) -> None:
        _approve_offered_keys(self, request, queryset)


@admin.register(HostGroup)
class HostGroupAdmin(UnscopedAdminChanges, admin.ModelAdmin):
    """Host groups, changed through the same services as the API's, so each change is
    audited. As in the API, admins limited to host groups see only their own groups and
    change none: a group is a scope, and widening one is unscoped-admin work."""

    list_display = ["name", "description", "host_count"]
    search_fields = ["name"]
    fields = ["name", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[HostGroup]:
        return scope_queryset(super().get_queryset(request), request.user)

    @admin.display(description="hosts")
    def host_count(self, obj: HostGroup) -> int:
        return obj.hosts.count()  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: HostGroup, form: Any, change: bool) -> None:
        data: dict[str, str] = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
        }
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            services.update_host_group(obj, actor=request.user, **changed)
            return
        obj.pk = services.create_host_group(actor=request.user, **data).pk

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """A group that limits a user or token is listed as "protected", which makes the
        delete page and the bulk delete refuse, with the API's 409 message as the reason."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for group in objs:
            in_use = services.host_group_in_use_message(group)
            if in_use:
                protected = [*protected, in_use]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: HostGroup) -> None:
        services.delete_host_group(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[HostGroup]) -> None:
        for group in queryset:
            services.delete_host_group(group, actor=request.user)
