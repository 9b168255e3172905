"""The admin's user and API token pages, audited: each save, revoke and delete goes
through ``accounts.services`` and is recorded like the API's. Both are for admins not
limited to host groups, as in the API (a scoped admin could otherwise widen their own
scope)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from access.permissions import UnscopedAdminChanges
from access.roles import Role, assigned_role, role_of
from hosts.models import HostGroup

from . import services
from .models import ROLE_CHOICES, TOKEN_PREFIX, ApiToken

# --- users -----------------------------------------------------------------------------------

ACCESS_FIELDS = ("role", "unrestricted", "host_groups")


def _access_fields() -> tuple[
    forms.ChoiceField, forms.BooleanField, forms.ModelMultipleChoiceField
]:
    """The form fields of a user's Berth role and host-group scope (their profile)."""
    return (
        forms.ChoiceField(
            choices=ROLE_CHOICES,
            initial=Role.VIEWER.label,
            required=False,  # left out: viewer for a new user, unchanged for others
            help_text="viewer: reads; operator: also acts on containers, images and "
            "deployments; admin: also hosts, credentials, users and tokens",
        ),
        forms.BooleanField(
            required=False,
            initial=True,
            help_text="Every host, whatever the host groups say. Untick it to limit the user "
            "to the host groups below (none: no host at all).",
        ),
        forms.ModelMultipleChoiceField(
            queryset=HostGroup.objects.all(),
            required=False,
            widget=FilteredSelectMultiple("host groups", is_stacked=False),
            help_text="Limit the user to these host groups (when not unrestricted)",
        ),
    )


class _AccessInitial(forms.BaseForm):
    """Fills the access fields in from the user's profile (or what having none means)."""

    instance: User

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        profile = getattr(self.instance, "berth_profile", None)
        self.initial["role"] = assigned_role(self.instance).label
        self.initial["unrestricted"] = profile is None or profile.unrestricted
        self.initial["host_groups"] = list(profile.host_groups.all()) if profile else []


class BerthUserChangeForm(_AccessInitial, UserChangeForm):
    role, unrestricted, host_groups = _access_fields()


class BerthUserCreationForm(_AccessInitial, AdminUserCreationForm):
    role, unrestricted, host_groups = _access_fields()


admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(UnscopedAdminChanges, UserAdmin):
    """Django's user admin plus the user's Berth role and scope, with every change
    recorded in the operation log (``user.create``, ``user.update``, ``user.delete``)."""

    form = BerthUserChangeForm
    add_form = BerthUserCreationForm
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Berth access", {"fields": ACCESS_FIELDS}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("Berth access", {"fields": ACCESS_FIELDS}))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        # A user without a profile keeps having none (and its meaning) until someone
        # changes their access; a new user always gets one, as from the API.
        if "role" in data and (not change or set(ACCESS_FIELDS) & set(form.changed_data)):
            role = data["role"] or (None if change else Role.VIEWER.label)
            services.set_profile(
                obj,
                role=Role.from_label(role) if role else None,
                host_groups=data["host_groups"],
                unrestricted=data["unrestricted"],
            )
        services.record_user_saved(
            obj, actor=request.user, created=not change, changed=form.changed_data
        )

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        # The form saved the new password when the page answers with a redirect.
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, unquote(id))
            if user is not None:
                services.record_user_saved(
                    user, actor=request.user, created=False, changed=["password"]
                )
        return response

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.delete_user(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for user in queryset:
            services.delete_user(user, actor=request.user)


# --- API tokens ------------------------------------------------------------------------------


class ApiTokenAddForm(forms.ModelForm):
    """Issue a token: whose, with which role and scope, until when. The secret is drawn
    by ``accounts.services.create_token`` and shown once, after saving."""

    unrestricted = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Act in the user's whole scope. Untick it to limit the token to the host "
        "groups below (none: no host at all).",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "role", "unrestricted", "host_groups", "expires_at"]
        widgets = {"host_groups": FilteredSelectMultiple("host groups", is_stacked=False)}

    def clean_expires_at(self) -> Any:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("Give a time in the future (or none: no expiry).")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user, role = data.get("user"), data.get("role")
        if user is not None and role:
            user_role = role_of(user)
            if user_role is None:
                self.add_error("user", "This user is inactive.")
            elif Role.from_label(role) > user_role:
                self.add_error("role", f"A token's role is at most its user's ({user_role.label}).")
        if data.get("unrestricted") and data.get("host_groups"):
            # Unrestricted wins over groups: refuse rather than silently ignore them.
            self.add_error("host_groups", "Untick unrestricted to limit the token to host groups.")
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(UnscopedAdminChanges, admin.ModelAdmin):
    """API tokens: issued (the secret shown once) and revoked through the services the API
    uses, so both are audited (``token.create``, ``token.revoke``). A token is never
    edited, and never deleted here: a revoked one stays, for the record. Neither the
    secret nor its hash is shown."""

    unscoped_view = True
    form = ApiTokenAddForm
    list_display = ["name", "user", "role", "scope", "prefix", "created_at", "expires_at",
                    "last_used_at", "revoked_at", "active"]  # fmt: skip
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "key", "user__username"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).prefetch_related("host_groups")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ApiTokenAddForm.Meta.fields
        return ["name", "user", "role", "unrestricted", "host_groups", "prefix", "created_at",
                "expires_at", "last_used_at", "revoked_at"]  # fmt: skip

    @admin.display(description="prefix (not a secret)")
    def prefix(self, obj: ApiToken) -> str:
        return f"{TOKEN_PREFIX}{obj.key}_…"

    @admin.display(description="scope")
    def scope(self, obj: ApiToken) -> str:
        if obj.unrestricted:
            return "its user's"
        return ", ".join(group.name for group in obj.host_groups.all()) or "no host"

    @admin.display(description="active", boolean=True)
    def active(self, obj: ApiToken) -> bool:
        return obj.is_active

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # issued and revoked, never edited: the change page only shows it

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked instead, so the record of the token stays

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        data = form.cleaned_data
        token, secret = services.create_token(
            data["user"],
            name=data["name"],
            role=Role.from_label(data["role"]),
            host_groups=data["host_groups"],
            unrestricted=data["unrestricted"],
            expires_at=data.get("expires_at"),
            actor=request.user,
        )
        # The page names the new row (its history entry, the redirect) by these.
        obj.pk, obj.key, obj.created_at = token.pk, token.key, token.created_at
        # Only here, once: the secret is not stored (only its hash) nor recorded.
        self.message_user(
            request,
            f"The secret of token “{token.name}”, shown only now (copy it; it is sent as "
            f"'Authorization: Bearer <token>'): {secret}",
            messages.WARNING,
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The host groups were set (and audited) by save_model, through the service."""

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.revoke_token(token, actor=request.user)
        self.message_user(request, f"Revoked {len(queryset)} token(s).")
