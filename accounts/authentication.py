"""``Authorization: Bearer berth_…``: API tokens for scripts."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from access.roles import BERTH_TOKEN_ATTR

from . import services
from .models import ApiToken


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates ``Authorization: Bearer <token>``.

    On success ``request.user`` is the token's user carrying the token (so
    ``role_of``/``scope_of`` answer with min(user role, token role) and the
    intersection of scopes) and ``request.auth`` is the ``ApiToken``. A wrong,
    expired or revoked token is a 401, counted and logged as a failed login;
    too many failures from one address are answered 429 for a while.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None
        ip = services.client_ip(request)
        if services.login_blocked(ip):
            raise exceptions.Throttled(
                detail="Too many failed logins from this address; try again later."
            )
        if len(parts) != 2:
            services.record_login_failure("token", ip, None, "malformed Authorization header")
            raise exceptions.AuthenticationFailed(
                "Give the header as 'Authorization: Bearer <token>'."
            )
        try:
            secret = parts[1].decode()
        except UnicodeDecodeError:
            secret = ""
        token = services.find_token(secret)
        if token is None:
            what = f"{services.describe_token(secret)} is unknown, expired or revoked"
            services.record_login_failure("token", ip, None, what)
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        services.touch_token(token)
        user = token.user
        setattr(user, BERTH_TOKEN_ATTR, token)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
