from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from . import services
from .models import Image, RegistryCredential
from .validators import normalize_registry


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "host", "size", "created"]
    list_select_related = ["host"]


class _RegistryField(forms.CharField):
    def clean(self, value: Any) -> str:
        value = super().clean(value)
        try:
            return normalize_registry(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class RegistryCredentialAddForm(forms.ModelForm):
    registry = _RegistryField(max_length=255)
    password = forms.CharField(
        widget=forms.PasswordInput, strip=False, required=False, help_text="Blank for no login"
    )

    class Meta:
        model = RegistryCredential
        fields = ["name", "registry", "username", "password", "insecure"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("username")) != bool(data.get("password")):
            self.add_error("password", "Give both a username and a password, or neither.")
        return data


class RegistryCredentialChangeForm(forms.ModelForm):
    """The stored password is never shown; a new one replaces it, blank keeps it."""

    registry = _RegistryField(max_length=255)
    new_password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Leave blank to keep the stored password.",
    )

    class Meta:
        model = RegistryCredential
        fields = ["name", "registry", "username", "insecure"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        registry = data.get("registry")
        moved = registry and registry != self.initial.get("registry")
        if moved and self.instance.password and not data.get("new_password"):
            # The stored password is only ever sent to the registry it was given for.
            self.add_error("new_password", "Give the password again for the new registry.")
        return data


@admin.register(RegistryCredential)
class RegistryCredentialAdmin(admin.ModelAdmin):
    list_display = ["name", "registry", "username", "insecure", "created_at"]
    search_fields = ["name", "registry", "username"]
    readonly_fields = ["created_at"]

    @method_decorator(sensitive_post_parameters("password", "new_password"))
    def changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(*args, **kwargs)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = RegistryCredentialAddForm if obj is None else RegistryCredentialChangeForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "registry", "username", "password", "insecure"]
        return ["name", "registry", "username", "new_password", "insecure", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: RegistryCredential, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            services.update_registry_credential(
                obj,
                password=data.get("new_password") or None,
                name=data["name"],
                registry=data["registry"],
                username=data["username"],
                insecure=data["insecure"],
                actor=request.user,
            )
            return
        created = services.create_registry_credential(
            name=data["name"],
            registry=data["registry"],
            username=data["username"],
            password=data["password"],
            insecure=data["insecure"],
            actor=request.user,
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: RegistryCredential) -> None:
        services.delete_registry_credential(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RegistryCredential]) -> None:
        for credential in queryset:
            services.delete_registry_credential(credential, actor=request.user)
