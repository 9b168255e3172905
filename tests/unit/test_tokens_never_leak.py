"""No secret (token, private key, registry password) appears in any API answer or log line."""

from __future__ import annotations

import logging
import subprocess

import pytest
from django.core.cache import cache

from access.roles import Role
from tests.examples import EXAMPLE_HOST_KEY
from tests.unit.roles_support import bearer, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "registry-secret-Zq9-never-shown"


@pytest.fixture(autouse=True)
def _fresh_failure_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def private_key(tmp_path):
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


def test_secrets_never_appear_in_answers_or_logs(admin_client, private_key, caplog):
    caplog.set_level(logging.DEBUG)
    answers = []

    def call(client, method, url, body=None):
        response = getattr(client, method)(url, body or {}, content_type="application/json")
        answers.append(response.content.decode())
        return response

    created = call(admin_client, "post", "/api/v1/tokens/", {"name": "ci", "role": "admin"})
    token = created.json()["token"]
    answers.pop()  # the one answer that shows it, by design
    client = bearer(token)
    host = call(
        client, "post", "/api/v1/hosts/",
        {"name": "web-1", "address": "198.18.99.2", "private_key": private_key,
         "host_key": EXAMPLE_HOST_KEY},
    )  # fmt: skip
    assert host.status_code == 201, host.content
    credential = call(
        client, "post", "/api/v1/registry-credentials/",
        {"name": "ghcr", "registry": "ghcr.io", "username": "robot", "password": PASSWORD},
    )  # fmt: skip
    assert credential.status_code == 201, credential.content
    credential_id = credential.json()["id"]
    call(client, "patch", f"/api/v1/registry-credentials/{credential_id}/", {"password": PASSWORD})
    call(client, "post", f"/api/v1/hosts/{host.json()['id']}/images/pull/",
         {"ref": "ghcr.io/org/app:v1", "credential": credential_id})  # fmt: skip
    for url in ("/api/v1/hosts/", "/api/v1/registry-credentials/", "/api/v1/tokens/",
                "/api/v1/operations/", "/api/v1/me/"):  # fmt: skip
        call(client, "get", url)
    # failures: a near-miss token, a revoked one, a wrong password at the login page
    call(bearer(token[:-1] + "x"), "get", "/api/v1/hosts/")
    make_user("ops", Role.OPERATOR)
    admin_client.post("/login/", {"username": "ops", "password": PASSWORD})
    call(client, "post", f"/api/v1/tokens/{created.json()['id']}/revoke/")
    call(client, "get", "/api/v1/hosts/")

    secret_key_body = private_key.strip().splitlines()[1]
    for secret in (token, token.split("_", 2)[2], PASSWORD, secret_key_body):
        for answer in answers:
            assert secret not in answer
        assert secret not in caplog.text
    assert "failed token login" in caplog.text
    assert "failed password login" in caplog.text
