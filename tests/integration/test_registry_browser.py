"""The registry browser on the real fleet and the real test registry: it lists the demo
repositories and tags, a tag's digest is the one a host reports after pulling it, and a
host whose copy of a tag the registry has since moved is listed as stale."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.registry_client import RegistryClient
from tests.fleet import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def _online(host: Host) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what=f"{host.name} to come online",
    )


def _finished(client, response) -> dict:
    assert response.status_code == 202, response.content
    url = response.json()["operation_url"]

    def done():
        body = client.get(url).json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(done, timeout=120, interval=0.3, what=f"operation {url}")


def _pull(client, host: Host, ref: str) -> dict:
    url = reverse("host-image-pull", args=[host.pk])
    return _finished(client, client.post(url, {"ref": ref}, content_type="application/json"))


def _refresh(client, host: Host) -> dict:
    return _finished(client, client.post(reverse("host-refresh", args=[host.pk])))


def _repo_digests(fleet_host, ref: str) -> list[str]:
    out = fleet_host.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    return json.loads(out)


@pytest.fixture
def registry(admin_client, fleet):
    """The test registry as an admin stores it: no login, plain HTTP."""
    response = admin_client.post(
        reverse("registrycredential-list"),
        {"name": "testbed", "registry": fleet.registry, "insecure": True},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_the_client_reads_the_real_registry(fleet):
    client = RegistryClient(fleet.registry, insecure=True)
    assert {"demo/web", "demo/sleeper"} <= set(client.catalog().names)
    assert {"v1", "v2", "v3"} <= set(client.tags("demo/web").names)
    tag = client.tag("demo/web", "v1")
    assert tag.digest.startswith("sha256:") and tag.size and tag.size > 0
    assert tag.created is not None


def test_the_browser_lists_demo_tags_with_the_digest_a_host_reports(
    register, admin_client, fleet, registry
):
    host = _online(register(fleet["h2"]))
    base = f"/api/v1/registries/{registry}/repositories/"
    repositories = admin_client.get(base).json()["repositories"]
    assert {"demo/web", "demo/sleeper"} <= set(repositories)
    assert {"v1", "v2", "v3"} <= set(admin_client.get(base + "demo/web/tags/").json()["tags"])

    ref = f"{fleet.registry}/demo/web:v1"
    assert _pull(admin_client, host, ref)["status"] == "succeeded"
    assert _refresh(admin_client, host)["status"] == "succeeded"
    tag = admin_client.get(base + "demo/web/tags/v1/").json()
    # The digest the host itself reports (docker image inspect on h2) is the tag's.
    assert f"{fleet.registry}/demo/web@{tag['digest']}" in _repo_digests(fleet["h2"], ref)
    assert tag["size"] > 0 and tag["created"]
    on_h2 = [entry for entry in tag["hosts"] if entry["host"] == host.pk]
    assert [(entry["digest"], entry["current"]) for entry in on_h2] == [(tag["digest"], True)]


def test_a_host_whose_tag_moved_in_the_registry_is_listed_as_stale(
    register, admin_client, fleet, registry
):
    h2 = fleet["h2"]
    host = _online(register(h2))
    repository = f"demo/browse-{uuid.uuid4().hex[:8]}"
    ref = f"{fleet.registry}/{repository}:t"
    browse = RegistryClient(fleet.registry, insecure=True)
    pushed: list[str] = []
    for source in (f"{fleet.registry}/demo/web:v1", f"{fleet.registry}/demo/web:v2"):
        h2.docker("pull", source)
    try:
        # h2 pushes v1 as the tag (and so holds that digest), then h3 moves the tag to v2:
        # h2's copy of the tag is now stale.
        h2.docker("tag", f"{fleet.registry}/demo/web:v1", ref)
        h2.docker("push", ref)
        pushed.append(browse.tag(repository, "t").digest)
        old = _repo_digests(h2, ref)
        fleet["h3"].docker("pull", f"{fleet.registry}/demo/web:v2")
        fleet["h3"].docker("tag", f"{fleet.registry}/demo/web:v2", ref)
        fleet["h3"].docker("push", ref)
        pushed.append(browse.tag(repository, "t").digest)
        assert _refresh(admin_client, host)["status"] == "succeeded"
        url = f"/api/v1/registries/{registry}/repositories/{repository}/tags/t/"
        tag = admin_client.get(url).json()
        assert tag["digest"] == pushed[1] != pushed[0]
        assert f"{fleet.registry}/{repository}@{pushed[0]}" in old
        on_h2 = [entry for entry in tag["hosts"] if entry["host"] == host.pk]
        assert [(entry["digest"], entry["current"]) for entry in on_h2] == [(pushed[0], False)]
    finally:
        for name in ("h2", "h3"):
            fleet[name].docker("rmi", ref, check=False)
        # The registry keeps an empty repository; its manifests go (delete is enabled).
        for digest in pushed:
            url = f"http://{fleet.registry}/v2/{repository}/manifests/{digest}"
            requests.delete(url, timeout=10)
