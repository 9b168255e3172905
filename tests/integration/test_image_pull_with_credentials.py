"""Pulling from (and pushing to) a registry that requires a login: the stored
credential is what gets the image in, and its password shows up nowhere (operation
row, stream, API).

A second registry (Debian's docker-registry with htpasswd auth) runs on
198.18.0.1:5001 for this module. The fleet's engines trust only :5000 as an
insecure registry, so this one speaks TLS with a throwaway CA that the engines
read from /etc/docker/certs.d/198.18.0.1:5001/ (removed again afterwards).
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.services import create_registry_credential
from operations import streams
from operations.models import Operation
from tests.fleet import wait_for
from tests.integration.publish_support import finished, post, pulled_image

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS, PORT = "198.18.0.1", 5001
REGISTRY = f"{ADDRESS}:{PORT}"
USERNAME = "berth-ci"
PASSWORD = f"pw-{uuid.uuid4().hex}"
CERTS_DIR = Path("/etc/docker/certs.d") / REGISTRY


def _certificate(workdir: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ADDRESS)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ADDRESS))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = workdir / "ca.crt", workdir / "registry.crt", workdir / "registry.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _answers(ca: Path) -> int | None:
    """The registry's status for an anonymous GET /v2/ (401 once it is up)."""
    context = ssl.create_default_context(cafile=str(ca))
    conn = http.client.HTTPSConnection(ADDRESS, PORT, timeout=2, context=context)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


@pytest.fixture(scope="module")
def auth_registry(fleet, tmp_path_factory):
    """A TLS registry on 198.18.0.1:5001 that wants USERNAME/PASSWORD, holding private/web:v1."""
    with socket.socket() as probe:
        if probe.connect_ex((ADDRESS, PORT)) == 0:
            pytest.fail(f"{REGISTRY} is already in use; this test runs its own registry there")
    workdir = tmp_path_factory.mktemp("auth-registry")
    ca, cert, key = _certificate(workdir)
    htpasswd = workdir / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=6)).decode()
    htpasswd.write_text(f"{USERNAME}:{hashed}\n")
    config = workdir / "config.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
                "http": {
                    "addr": REGISTRY,
                    "secret": uuid.uuid4().hex,
                    "tls": {"certificate": str(cert), "key": str(key)},
                },
                "auth": {"htpasswd": {"realm": "berth-test", "path": str(htpasswd)}},
            }
        )
    )
    created_dirs = [
        d for d in (CERTS_DIR.parent.parent, CERTS_DIR.parent, CERTS_DIR) if not d.exists()
    ]
    CERTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, CERTS_DIR / "ca.crt")
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while _answers(ca) != 401:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the auth registry did not start:\n{(workdir / 'registry.log').read_text()}"
                )
            time.sleep(0.1)
        # Seed it from h3's engine, logged in through a throwaway CLI config.
        h3 = fleet["h3"]
        env = {**os.environ, "DOCKER_CONFIG": str(workdir / "docker-cli")}
        docker = ["docker", "-H", h3.docker_host]
        image = f"{REGISTRY}/private/web:v1"
        h3.docker("pull", f"{fleet.registry}/demo/web:v1")
        h3.docker("tag", f"{fleet.registry}/demo/web:v1", image)
        subprocess.run(
            [*docker, "login", REGISTRY, "-u", USERNAME, "--password-stdin"],
            input=PASSWORD, env=env, check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        subprocess.run(
            [*docker, "push", image], env=env, check=True, capture_output=True, timeout=120
        )
        h3.docker("rmi", image)
        yield image
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        (CERTS_DIR / "ca.crt").unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            directory.rmdir()


def _pull(client, host: Host, body: dict) -> dict:
    response = client.post(
        reverse("host-image-pull", args=[host.pk]), body, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    url = response.json()["operation_url"]

    def finished():
        answer = client.get(url)
        data = answer.json()
        return answer if data["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(finished, timeout=120, interval=0.3, what="the pull to finish")


def _online_h3(register, fleet) -> Host:
    host = register(fleet["h3"])
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what="h3 to come online",
    )


def test_pull_from_a_registry_that_wants_a_login_uses_the_stored_credential(
    auth_registry, register, admin_client, fleet
):
    host = _online_h3(register, fleet)
    h3 = fleet["h3"]
    h3.docker("rmi", auth_registry, check=False)
    create_registry_credential(
        name="private", registry=REGISTRY, username=USERNAME, password=PASSWORD
    )
    try:
        # No credential named: the one stored for 198.18.0.1:5001 is used.
        answer = _pull(admin_client, host, {"ref": auth_registry})
        body = answer.json()

        assert body["status"] == "succeeded", body["error"]
        assert auth_registry in body["result"]["tags"]
        assert h3.docker("images", "-q", auth_registry).stdout.strip()
        operation = Operation.objects.get(pk=body["id"])
        assert operation.params["credential_name"] == "private"
        stream = admin_client.get(reverse("operation-stream", args=[operation.pk]))
        recorded = [
            answer.content.decode(),
            stream.content.decode(),
            json.dumps(streams.read(operation.pk)),
            json.dumps([operation.params, operation.progress, operation.result, operation.error]),
            admin_client.get(reverse("registrycredential-list")).content.decode(),
            admin_client.get(reverse("operation-list")).content.decode(),
        ]
        assert not [text for text in recorded if PASSWORD in text]
    finally:
        h3.docker("rmi", auth_registry, check=False)


def test_pull_without_a_login_or_with_a_wrong_password_is_refused(
    auth_registry, register, admin_client, fleet
):
    host = _online_h3(register, fleet)
    fleet["h3"].docker("rmi", auth_registry, check=False)

    anonymous = _pull(admin_client, host, {"ref": auth_registry}).json()
    assert anonymous["status"] == "failed"
    assert "no basic auth credentials" in anonymous["error"] or "unauthorized" in anonymous["error"]

    wrong = create_registry_credential(
        name="wrong", registry=REGISTRY, username=USERNAME, password="not-the-password"
    )
    refused = _pull(admin_client, host, {"ref": auth_registry, "credential": wrong.pk}).json()
    assert refused["status"] == "failed"
    assert "unauthorized" in refused["error"] or "authentication required" in refused["error"]
    assert "not-the-password" not in refused["error"]


def test_push_to_a_registry_that_wants_a_login_uses_the_stored_credential(
    auth_registry, register, admin_client, fleet
):
    host = _online_h3(register, fleet)
    image = pulled_image(admin_client, host, f"{fleet.registry}/demo/web:v1")
    target = f"{REGISTRY}/private/pushed-{uuid.uuid4().hex[:8]}:p1"

    anonymous = finished(
        admin_client, post(admin_client, "host-image-push", [image.pk], {"reference": target})
    )
    create_registry_credential(
        name="private", registry=REGISTRY, username=USERNAME, password=PASSWORD
    )
    pushed = finished(
        admin_client, post(admin_client, "host-image-push", [image.pk], {"reference": target})
    )

    assert anonymous["status"] == "failed"
    assert f"push of {target} failed" in anonymous["error"]
    assert pushed["status"] == "succeeded", pushed["error"]
    assert pushed["params"]["credential_name"] == "private"
    assert pushed["result"]["digest"].startswith("sha256:")
    stream = admin_client.get(reverse("operation-stream", args=[pushed["id"]]))
    assert PASSWORD not in json.dumps(pushed) and PASSWORD not in stream.content.decode()
