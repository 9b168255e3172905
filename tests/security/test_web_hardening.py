"""The web side of Berth: the server's own engine is not handed out silently, debug
mode stays on loopback, secrets stay out of error reports, pages carry a strict
Content-Security-Policy, the API docs need a login, and failed logins are counted per
client address in Redis."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import redis
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from access.roles import Role
from accounts.services import client_ip, create_token
from berth.settings.env import is_loopback_bind
from hosts.models import Host
from tests.unit.roles_support import make_user

REPO = Path(__file__).resolve().parent.parent.parent

# --- the Berth server's own engine ------------------------------------------------------


@pytest.fixture
def docker_socket(tmp_path):
    """A Unix socket that answers, standing in for the local dockerd."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    yield f"unix://{path}"
    server.close()


def _register(docker_host, *args):
    out, err = StringIO(), StringIO()
    call_command("register_local_host", "--docker-host", docker_host, *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.django_db
def test_the_local_engine_is_registered_only_on_request(docker_socket, monkeypatch):
    monkeypatch.delenv("BERTH_REGISTER_LOCAL", raising=False)
    output = _register(docker_socket)
    assert not Host.objects.filter(transport="local").exists()
    assert "BERTH_REGISTER_LOCAL=1" in output
    output = _register(docker_socket, "--register")
    assert Host.objects.filter(name="local", transport="local").exists()
    assert "this host is the Berth server itself" in output
    assert "can read Berth's secrets" in output


@pytest.mark.django_db
def test_the_env_var_registers_it_too(docker_socket, monkeypatch):
    monkeypatch.setenv("BERTH_REGISTER_LOCAL", "1")
    assert "Berth's secrets" in _register(docker_socket)
    assert Host.objects.filter(transport="local").exists()


@pytest.mark.django_db
def test_the_local_host_page_warns(admin_client):
    host = Host.objects.create(name="local", transport="local")
    page = admin_client.get(reverse("frontend:host", args=[host.pk])).content.decode()
    assert "This host is the Berth server itself" in page
    other = Host.objects.create(name="remote", address="198.18.0.2")
    page = admin_client.get(reverse("frontend:host", args=[other.pk])).content.decode()
    assert "Berth server itself" not in page


# --- production by default; debug only on loopback -------------------------------------


def _settings(env: dict[str, str], *names: str) -> subprocess.CompletedProcess:
    """Read settings in a fresh process, as a server would start with this environment."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("BERTH_")}
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "berth.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


SECRETS = {
    "BERTH_SECRET_KEY": "x" * 50,
    "BERTH_ENCRYPTION_KEY": "u7wGgNdDFefqpr_kGxb8wkpvj0Q2Zq7m6HXgkdPE7DY=",
}


def test_production_is_the_default():
    started = _settings({}, "DEBUG")
    assert started.returncode != 0
    assert "must be set when BERTH_DEBUG is off" in started.stderr
    started = _settings(SECRETS, "DEBUG")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout) == {"DEBUG": False}


def test_debug_on_a_public_bind_refuses_to_start():
    started = _settings({"BERTH_DEBUG": "true", "BERTH_BIND": "0.0.0.0:8000"}, "DEBUG")
    assert started.returncode != 0
    assert "not a loopback address" in started.stderr
    for bind in ("127.0.0.1:8000", "[::1]:8000", "localhost:9000"):
        started = _settings({"BERTH_DEBUG": "true", "BERTH_BIND": bind}, "DEBUG")
        assert started.returncode == 0, (bind, started.stderr)


def test_https_hardening_follows_the_deployment():
    public = _settings(
        {**SECRETS, "BERTH_BIND": "0.0.0.0:8000"},
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "CACHES",
        "SECURE_PROXY_SSL_HEADER",
    )
    assert public.returncode == 0, public.stderr
    values = json.loads(public.stdout)
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # no proxy trusted: no header believed
    cache = values["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/0"
    laptop = _settings({"BERTH_DEBUG": "true"}, "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS")
    assert json.loads(laptop.stdout) == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0}
    tuned = _settings(
        {
            **SECRETS,
            "BERTH_BIND": "0.0.0.0:8000",
            "BERTH_SSL_REDIRECT": "false",
            "BERTH_HSTS_SECONDS": "600",
            "BERTH_TRUSTED_PROXIES": "10.0.0.1",
        },
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
    )
    assert json.loads(tuned.stdout) == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("127.0.0.2", True),
        ("[::1]:80", True),
        ("localhost:1", True),
        ("0.0.0.0:8000", False),
        ("[::]:8000", False),
        ("10.1.2.3:80", False),
        ("unix:/run/berth.sock", False),
        ("berth.example:80", False),
    ],
)
def test_loopback_binds(bind, loopback):
    assert is_loopback_bind(bind) is loopback


# --- secrets stay out of error reports ----------------------------------------------------


@pytest.mark.django_db
def test_forms_that_take_a_secret_hide_it_from_error_reports(admin_client):
    answers = {
        reverse("frontend:host-add"): {"private_key", "passphrase"},
        reverse("login"): {"password"},
        reverse("admin:hosts_sshkey_add"): {"private_key", "passphrase"},
        reverse("admin:images_registrycredential_add"): {"password", "new_password"},
    }
    for url, secret_fields in answers.items():
        response = admin_client.post(url, {"name": "x"})
        hidden = getattr(response.wsgi_request, "sensitive_post_parameters", None)
        assert hidden == "__ALL__" or secret_fields <= set(hidden or ()), (url, hidden)


# --- Content-Security-Policy ------------------------------------------------------------


TEMPLATES = [*REPO.glob("*/templates/**/*.html")]


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(admin_client):
    policy = admin_client.get(reverse("frontend:dashboard"))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy


def test_templates_hold_no_inline_script_or_style():
    assert TEMPLATES
    # Also what htmx would eval: hx-on, js: values and trigger filters ("every 5s [cond]").
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|hx-on|javascript:|\bjs:"
        r"|hx-trigger=\"[^\"]*\[",
        re.I,
    )
    found = [f"{path.relative_to(REPO)}: {match.group(0)}" for path in TEMPLATES
             for match in inline.finditer(path.read_text())]  # fmt: skip
    assert not found, found


@pytest.mark.django_db
def test_htmx_is_told_not_to_inject_styles_or_eval(admin_client):
    page = admin_client.get(reverse("frontend:dashboard")).content.decode()
    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'>', page)
    assert config is not None
    assert json.loads(config.group(1)) == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
    }


# --- the API docs -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_schema_and_docs_need_a_login(admin_client, admin_user):
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code == 401
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302
    assert docs["Location"].startswith("/login/")
    _, secret = create_token(admin_user, name="docs", role=Role.VIEWER)
    token = Client(headers={"Authorization": f"Bearer {secret}"})
    assert token.get("/api/schema/").status_code == 200
    assert token.get("/api/docs/").status_code == 200
    assert admin_client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_swagger_ui_comes_from_our_static_files_not_a_cdn(admin_client):
    page = admin_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn." not in html and "https://" not in html
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script on the docs page"
    assert not re.search(r"<style\b", html), "inline style on the docs page"
    bundle = admin_client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200


# --- failed logins: the client's address, counted in Redis -------------------------------


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_x_forwarded_for_is_read_only_from_trusted_proxies(settings):
    settings.BERTH_TRUSTED_PROXIES = []
    assert client_ip(_request("10.0.0.5", "198.51.100.7")) == "10.0.0.5"
    settings.BERTH_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(_request("10.0.0.5", "198.51.100.7")) == "198.51.100.7"
    # The client may write anything before the proxy appends what it saw.
    assert client_ip(_request("10.0.0.5", "203.0.113.66, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request("10.0.0.5", "198.51.100.7, 10.0.0.9")) == "198.51.100.7"
    # Someone talking to Berth directly cannot claim another address.
    assert client_ip(_request("192.0.2.1", "198.51.100.7")) == "192.0.2.1"
    assert client_ip(_request("10.0.0.5", "not an address")) == "10.0.0.5"


def _login(client, password, address):
    return client.post("/login/", {"username": "ops", "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_nobody_can_lock_a_user_out_by_name_from_elsewhere(client, settings):
    cache.clear()
    settings.BERTH_LOGIN_MAX_FAILURES = 3
    make_user("ops", Role.OPERATOR)
    for _ in range(5):
        _login(client, "wrong", "203.0.113.66")
    assert _login(client, "correct horse battery", "203.0.113.66").status_code == 429
    assert _login(Client(), "correct horse battery", "198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_one_address_trying_many_names_is_stopped(client, settings):
    cache.clear()
    settings.BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS = 4
    for number in range(4):
        client.post("/login/", {"username": f"u{number}", "password": "x"}, REMOTE_ADDR="192.0.2.9")
    make_user("ops", Role.OPERATOR)
    assert _login(client, "correct horse battery", "192.0.2.9").status_code == 429


@pytest.mark.django_db
def test_failure_counters_live_in_redis_shared_by_every_process(client, settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "berth",
        }
    }
    settings.BERTH_LOGIN_MAX_FAILURES = 2
    cache.clear()
    make_user("ops", Role.OPERATOR)
    _login(client, "wrong", "203.0.113.5")
    _login(client, "wrong", "203.0.113.5")
    stored = redis.Redis.from_url(redis_url)
    keys = [key.decode() for key in stored.keys("berth*")]
    assert any("203.0.113.5" in key for key in keys), keys
    assert not any(key.endswith(":user:ops") for key in keys), keys
    # Another web process (a fresh connection) sees the same count.
    assert _login(Client(), "correct horse battery", "203.0.113.5").status_code == 429
    cache.clear()
