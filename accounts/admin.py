"""The admin's user pages, audited: each save and delete is recorded like the API's."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from . import services

admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Django's user admin, with every change recorded in the operation log."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
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
