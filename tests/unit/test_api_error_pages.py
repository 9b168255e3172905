"""No HTML error page reaches an API client: an unexpected exception in an API view is
a JSON 500 (logged with its traceback), an unknown /api/ path a JSON 404 — with DEBUG
on too, where Django would otherwise answer its debug page with a settings dump."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from hosts import services
from hosts.models import Host

pytestmark = pytest.mark.django_db


def _boom(*args, **kwargs):
    raise RuntimeError("secret-ish internals")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_in_an_api_view_is_a_json_500(
    admin_client, settings, monkeypatch, caplog, debug
):
    settings.DEBUG = debug
    host = Host.objects.create(name="h1", transport="local")
    monkeypatch.setattr(services, "request_refresh", _boom)
    with caplog.at_level(logging.ERROR):
        response = admin_client.post(reverse("host-refresh", args=[host.pk]))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["message"] == body["detail"]
    assert "unexpected error" in body["message"]
    assert "secret-ish" not in response.content.decode()  # details stay in the log
    logged = [record for record in caplog.records if record.exc_info]
    assert logged, "the error was not logged with its traceback"
    assert "secret-ish internals" in str(logged[0].exc_info[1])


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/nothing", "/api/v1/hosts/x/y/"])
def test_an_unknown_api_path_is_a_json_404(admin_client, settings, debug, path):
    settings.DEBUG = debug
    response = admin_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "not found" in response.json()["message"].lower()
    assert b"<html" not in response.content.lower()


def test_pages_keep_their_html_404(admin_client):
    response = admin_client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_json_500_handler_outside_drf_views(rf):
    from berth.api_errors import server_error

    response = server_error(rf.get("/api/v1/hosts/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert "unexpected error" in json.loads(response.content)["message"]


def test_a_lost_database_is_a_json_503(admin_client, monkeypatch):
    from django.db import OperationalError

    host = Host.objects.create(name="h1", transport="local")

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "request_refresh", lost)
    response = admin_client.post(reverse("host-refresh", args=[host.pk]))
    assert response.status_code == 503
    assert "database" in response.json()["message"]
    assert response["Retry-After"]
