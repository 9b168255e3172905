"""The Django admin, for Berth admins only.

Django lets in any active staff account and then checks model permissions; a staff
account whose Berth role is operator or viewer, given those permissions, could issue
an admin token or change a host's key there. Here the Berth role decides too.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

from access.roles import Role, has_role


class BerthAdminSite(admin.AdminSite):
    site_header = "Berth administration"
    site_title = "Berth admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and has_role(request.user, Role.ADMIN)


class BerthAdminConfig(AdminConfig):
    """``django.contrib.admin`` with ``BerthAdminSite`` as ``admin.site``."""

    default_site = "accounts.admin_site.BerthAdminSite"
