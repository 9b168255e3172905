"""The registry browser's HTTP client against a registry stub (tests/registry_stub.py):
Link pagination, the Basic and Bearer logins, an image index, and readable errors.
The same client against the real test registry: tests/integration/test_registry_browser.py."""

from __future__ import annotations

import base64

import pytest

from images import registry_client
from images.registry_client import RegistryClient, RegistryError
from tests.registry_stub import TOKEN, StubRegistry, serve


def _client(stub: StubRegistry, **login: str) -> RegistryClient:
    return RegistryClient(stub.address, insecure=True, **login)


def test_the_catalog_follows_link_pages_to_the_end():
    stub = StubRegistry(repositories=[f"team/app-{i:03d}" for i in range(250)])
    with serve(stub):
        found = _client(stub).catalog()
    assert found.names == sorted(stub.repositories)
    assert not found.truncated
    assert len([path for _, path, _ in stub.requests if path.startswith("/v2/_catalog")]) == 3


def test_a_catalog_past_the_cap_is_cut_and_says_so(monkeypatch):
    monkeypatch.setattr(registry_client, "MAX_NAMES", 30)
    monkeypatch.setattr(registry_client, "PAGE_SIZE", 10)
    stub = StubRegistry(repositories=[f"r{i:03d}" for i in range(45)])
    with serve(stub):
        found = _client(stub).catalog()
    assert found.names == sorted(stub.repositories)[:30]
    assert found.truncated


def test_tag_reads_digest_size_and_creation_of_an_image():
    stub = StubRegistry()
    digest = stub.add_image("demo/web", "v1", "2026-12-01T10:00:00.123456789Z", [1000, 2000])
    with serve(stub):
        tag = _client(stub).tag("demo/web", "v1")
    assert tag.digest == digest
    config = next(iter(stub.blobs.values()))
    assert tag.size == len(config) + 3000
    assert tag.created is not None and tag.created.isoformat() == "2026-12-01T10:00:00.123456+00:00"
    assert tag.platforms == []


def test_an_index_is_its_own_digest_with_one_entry_per_platform():
    stub = StubRegistry()
    amd = stub.add_image("demo/web", "amd", "2026-12-01T10:00:00Z", [100])
    arm = stub.add_image("demo/web", "arm", "2026-12-02T10:00:00Z", [200])
    index = stub.add_index("demo/web", "multi", {"linux/amd64": amd, "linux/arm64": arm})
    with serve(stub):
        tag = _client(stub).tag("demo/web", "multi")
    assert tag.digest == index
    assert tag.size is None and tag.created is None
    # The attestation ("unknown/unknown") is not a platform.
    assert [(p.platform, p.digest) for p in tag.platforms] == [
        ("linux/amd64", amd),
        ("linux/arm64", arm),
    ]
    assert tag.platforms[1].created.day == 2


def test_the_bearer_flow_gets_a_token_with_the_login_and_keeps_it_per_scope():
    stub = StubRegistry(auth="bearer")
    stub.add_image("demo/web", "v1", "2026-12-01T10:00:00Z", [10])
    with serve(stub):
        client = _client(stub, username=stub.username, password=stub.password)
        assert client.catalog().names == ["demo/web"]
        assert client.tag("demo/web", "v1").size
    tokens = [path for _, path, _ in stub.requests if path.startswith("/token")]
    # One token for the catalog, one for the repository (manifest and blob share it).
    assert len(tokens) == 2
    assert "scope=repository%3Ademo%2Fweb%3Apull" in tokens[1]
    assert ("GET", "/v2/demo/web/manifests/v1", f"Bearer {TOKEN}") in stub.requests


def test_a_wrong_password_is_a_readable_error_without_the_password():
    stub = StubRegistry(auth="bearer")
    with serve(stub), pytest.raises(RegistryError) as caught:
        _client(stub, username="robot", password="wrong-Pass-77").catalog()
    assert caught.value.status == 401
    assert f"registry {stub.address} refused a token as robot" in caught.value.message
    assert "wrong-Pass-77" not in caught.value.message


def test_basic_auth_is_sent_after_the_challenge():
    stub = StubRegistry(auth="basic")
    stub.add_image("demo/web", "v1", "2026-12-01T10:00:00Z", [10])
    with serve(stub):
        assert _client(stub, username=stub.username, password=stub.password).tags("demo/web")
    login = base64.b64encode(f"{stub.username}:{stub.password}".encode()).decode()
    assert stub.requests[0][2] == ""  # asked without a login first
    assert stub.requests[1][2] == f"Basic {login}"


def test_a_registry_that_needs_a_login_refuses_an_anonymous_one_readably():
    stub = StubRegistry(auth="basic")
    with serve(stub), pytest.raises(RegistryError) as caught:
        _client(stub).catalog()
    assert caught.value.message.startswith(f"registry {stub.address} answered 401 for /v2/_catalog")
    assert "check the username and password" in caught.value.message


def test_an_unknown_tag_is_not_found():
    stub = StubRegistry()
    stub.add_image("demo/web", "v1", "2026-12-01T10:00:00Z", [10])
    with serve(stub), pytest.raises(RegistryError) as caught:
        _client(stub).tag("demo/web", "v9")
    assert caught.value.not_found
    assert "manifest unknown" in caught.value.message


def test_an_unreachable_registry_is_a_readable_error():
    with pytest.raises(RegistryError, match=r"cannot reach registry 127\.0\.0\.1:9 "):
        RegistryClient("127.0.0.1:9", insecure=True).catalog()


def test_https_is_the_default_and_a_plain_http_registry_says_to_mark_it_insecure():
    stub = StubRegistry()
    with serve(stub), pytest.raises(RegistryError, match="mark it insecure"):
        RegistryClient(stub.address).catalog()
