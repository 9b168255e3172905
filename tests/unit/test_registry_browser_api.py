"""The registry browser's API: viewers browse stored registries by id, bad names are a
400 before the registry is asked, a registry's failure is a readable 502 (or 404), and a
tag's hosts are those of the caller's host groups, on the tag's digest or stale."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from access.roles import Role
from images.models import Image, RegistryCredential
from images.services import create_registry_credential, docker_auth
from tests.registry_stub import StubRegistry, serve
from tests.unit.roles_support import bearer, logged_in, make_site, make_user, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub():
    registry = StubRegistry(auth="bearer")
    registry.add_image("demo/web", "v1", "2026-12-01T10:00:00Z", [100, 200])
    with serve(registry):
        yield registry


@pytest.fixture
def record(stub):
    return create_registry_credential(
        name="stub",
        registry=stub.address,
        username=stub.username,
        password=stub.password,
        insecure=True,
    )


def _base(record: RegistryCredential) -> str:
    return f"/api/v1/registries/{record.pk}/repositories/"


def test_a_viewer_lists_repositories_and_tags(stub, record):
    viewer = logged_in(make_user("val", Role.VIEWER))
    repositories = viewer.get(_base(record))
    assert repositories.status_code == 200, repositories.content
    assert repositories.json() == {
        "registry": stub.address,
        "repositories": ["demo/web"],
        "truncated": False,
    }
    tags = viewer.get(_base(record) + "demo/web/tags/")
    assert tags.status_code == 200
    assert tags.json()["tags"] == ["v1"]


def test_a_tag_names_hosts_on_its_digest_and_stale_ones_in_scope(stub, record):
    a, b = make_site("a"), make_site("b")
    c = make_site("c")
    current = stub.manifests["demo/web:v1"]
    digest = "sha256:" + hashlib.sha256(current[1]).hexdigest()
    name = f"{stub.address}/demo/web"
    Image.objects.filter(pk=a.image.pk).update(tags=[f"{name}:v1"], digests=[f"{name}@{digest}"])
    old = "sha256:" + "0" * 64
    Image.objects.filter(pk=b.image.pk).update(tags=[f"{name}:v1"], digests=[f"{name}@{old}"])
    # Another tag of the same repository, on another digest: not a copy of v1.
    Image.objects.filter(pk=c.image.pk).update(tags=[f"{name}:v2"], digests=[f"{name}@{old}"])
    admin = logged_in(make_user("root", Role.ADMIN))
    answer = admin.get(_base(record) + "demo/web/tags/v1/")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["digest"] == digest
    assert body["size"] == len(next(iter(stub.blobs.values()))) + 300
    assert body["created"] == "2026-12-01T10:00:00Z"
    assert [(h["host_name"], h["digest"], h["current"]) for h in body["hosts"]] == [
        ("host-a", digest, True),
        ("host-b", old, False),
    ]
    scoped = bearer(token_for(make_user("boss", Role.ADMIN), Role.VIEWER, [b.group]))
    hosts = scoped.get(_base(record) + "demo/web/tags/v1/").json()["hosts"]
    assert [h["host_name"] for h in hosts] == ["host-b"]


def test_bad_names_are_a_400_naming_the_field_before_the_registry_is_asked(stub, record):
    viewer = logged_in(make_user("val", Role.VIEWER))
    bad_repository = viewer.get(_base(record) + "Demo/WEB/tags/")
    assert bad_repository.status_code == 400
    assert "repository" in bad_repository.json()["errors"]
    bad_tag = viewer.get(_base(record) + "demo/web/tags/-v1/")
    assert bad_tag.status_code == 400
    assert "tag" in bad_tag.json()["errors"]
    assert stub.requests == []


def test_unknown_record_repository_or_tag_is_a_404(stub, record):
    viewer = logged_in(make_user("val", Role.VIEWER))
    assert viewer.get(f"/api/v1/registries/{record.pk + 99}/repositories/").status_code == 404
    missing = viewer.get(_base(record) + "demo/nothing/tags/")
    assert missing.status_code == 404
    assert "repository name not known" in missing.json()["message"]
    assert viewer.get(_base(record) + "demo/web/tags/v9/").status_code == 404


def test_a_registry_that_refuses_is_a_readable_502_without_the_password(stub):
    record = create_registry_credential(
        name="wrong", registry=stub.address, username="robot", password="Wrong-pw-1", insecure=True
    )
    answer = logged_in(make_user("val", Role.VIEWER)).get(_base(record))
    assert answer.status_code == 502
    assert answer.json()["message"].startswith(f"registry {stub.address} refused a token")
    assert b"Wrong-pw-1" not in answer.content


def test_an_anonymous_record_browses_a_registry_without_auth():
    open_stub = StubRegistry()
    open_stub.add_image("demo/sleeper", "v1", "2026-12-01T10:00:00Z", [1])
    with serve(open_stub):
        admin = logged_in(make_user("root", Role.ADMIN))
        created = admin.post(
            "/api/v1/registry-credentials/",
            {"name": "lab", "registry": open_stub.address, "insecure": True},
            content_type="application/json",
        )
        assert created.status_code == 201, created.content
        assert created.json()["username"] == ""
        listed = admin.get(f"/api/v1/registries/{created.json()['id']}/repositories/")
    assert listed.json()["repositories"] == ["demo/sleeper"]
    assert all(auth == "" for _, _, auth in open_stub.requests)


def test_a_password_without_a_username_is_a_400():
    admin = logged_in(make_user("root", Role.ADMIN))
    answer = admin.post(
        "/api/v1/registry-credentials/",
        {"name": "lab", "registry": "ghcr.io", "password": "x"},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert "username" in answer.json()["errors"]


def test_only_an_admin_adds_a_registry():
    operator = logged_in(make_user("op", Role.OPERATOR))
    answer = operator.post(
        "/api/v1/registry-credentials/",
        {"name": "lab", "registry": "ghcr.io"},
        content_type="application/json",
    )
    assert answer.status_code == 403
    assert not RegistryCredential.objects.exists()


def test_browsing_needs_a_login():
    record = create_registry_credential(name="lab", registry="ghcr.io")
    assert Client().get(_base(record)).status_code in (401, 403)


def test_a_registry_without_a_login_gives_a_pull_no_auth():
    record = create_registry_credential(name="lab", registry="198.18.0.1:5000", insecure=True)
    assert docker_auth(record) is None


def _tag_queries(client, record, django_assert_num_queries, hosts: int, count: int) -> None:
    for index in range(hosts):
        site = make_site(f"q{index}")
        Image.objects.filter(pk=site.image.pk).update(
            tags=[f"{record.registry}/demo/web:v1"],
            digests=[f"{record.registry}/demo/web@sha256:{index:064d}"],
        )
    with django_assert_num_queries(count):
        assert len(client.get(_base(record) + "demo/web/tags/v1/").json()["hosts"]) == hosts


@pytest.mark.parametrize("hosts", [1, 6])
def test_a_tags_hosts_cost_the_same_queries_however_many(
    stub, record, django_assert_num_queries, hosts
):
    client = bearer(token_for(make_user("boss", Role.ADMIN), Role.VIEWER))
    # token lookup (+ its last use), the user's profile, the record, the images
    _tag_queries(client, record, django_assert_num_queries, hosts, count=5)
