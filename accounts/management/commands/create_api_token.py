"""Issue an API token from the command line, e.g. the first admin token of a new install."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from access.roles import Role, role_of
from accounts.services import create_token


class Command(BaseCommand):
    help = "Create an API token for a user and print its secret (shown only this once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--role", choices=[role.label for role in Role])
        parser.add_argument("--expires-days", type=int, help="refused after this many days")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        role = Role[options["role"].upper()] if options["role"] else role_of(user)
        expires_at = None
        if options["expires_days"]:
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        try:
            token, secret = create_token(
                user, name=name, role=role or Role.VIEWER, expires_at=expires_at
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{secret}\n")
        self.stderr.write(f"token {token.key} ({token.role}) for {username}; shown only once")
