"""The login page, with failed logins counted, logged and rate limited."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import services


class LoginView(auth_views.LoginView):
    """Django's login view (its password kept out of error reports); too many failures
    from one address, for one username from that address, within
    ``BERTH_LOGIN_FAILURE_WINDOW`` seconds are answered 429 without checking the
    password. Every failure is logged (username and address, never the password)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        ip = services.client_ip(request)
        if services.login_blocked(ip, username):
            services.log.warning(
                "login refused for %r from %s: too many failed logins", username, ip
            )
            minutes = math.ceil(settings.BERTH_LOGIN_FAILURE_WINDOW / 60)
            return render(
                request, "accounts/login_blocked.html", {"retry_minutes": minutes}, status=429
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        services.record_login_failure(
            "password",
            services.client_ip(self.request),
            str(self.request.POST.get("username", ""))[:150],
            "wrong username or password",
        )
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        services.clear_login_failures(
            services.client_ip(self.request), form.get_user().get_username()
        )
        return super().form_valid(form)
