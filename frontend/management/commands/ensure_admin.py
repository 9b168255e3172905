"""Create the first admin login, printing its password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from access.roles import Role
from accounts.services import create_user


class Command(BaseCommand):
    help = "Create an admin user with a random password when no admin exists yet."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "An admin login already exists (reset it with manage.py changepassword)."
            )
            return
        password = secrets.token_urlsafe(12)
        # Through the service, so the audit trail records it (as done by "system").
        create_user(
            username=username, password=password, role=Role.ADMIN, superuser=True, actor=None
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin login created. Username: {username}  Password: {password}\n"
                "This password is shown only once."
            )
        )
