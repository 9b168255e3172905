from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from access.permissions import UnscopedAdminChanges

from . import services
from .models import ContainerPolicy
from .paths import normalise


class ContainerPolicyForm(forms.ModelForm):
    allowed_bind_prefixes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="One absolute host path per line; empty: no host bind mounts at all",
    )

    class Meta:
        model = ContainerPolicy
        fields = ["host_group", "allowed_bind_prefixes", *services.TOGGLES]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["allowed_bind_prefixes"] = "\n".join(self.instance.allowed_bind_prefixes)

    def clean_allowed_bind_prefixes(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["allowed_bind_prefixes"].splitlines()]
        prefixes = [line for line in lines if line]
        for prefix in prefixes:
            problem = services.prefix_problem(prefix)
            if problem:
                raise forms.ValidationError(problem)
        return [normalise(prefix) for prefix in prefixes]


@admin.register(ContainerPolicy)
class ContainerPolicyAdmin(UnscopedAdminChanges, admin.ModelAdmin):
    """Edited here or through the API, audited either way; unscoped admins only."""

    form = ContainerPolicyForm
    list_display = ["__str__", "allowed_bind_prefixes", *services.TOGGLES, "updated_at"]
    unscoped_view = True

    def save_model(
        self, request: HttpRequest, obj: ContainerPolicy, form: Any, change: bool
    ) -> None:
        services.save_policy(
            obj,
            actor=request.user,
            host_group=form.cleaned_data.get("host_group"),
            allowed_bind_prefixes=form.cleaned_data.get("allowed_bind_prefixes", []),
            toggles={toggle: form.cleaned_data[toggle] for toggle in services.TOGGLES},
        )

    def delete_model(self, request: HttpRequest, obj: ContainerPolicy) -> None:
        services.delete_policy(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            services.delete_policy(obj, actor=request.user)
