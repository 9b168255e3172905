"""The Registries pages: registries → repositories → tags, each tag row with its digest,
size, creation and hosts; a registry's failure is a message on the page, never a 500."""

from __future__ import annotations

import hashlib

import pytest

from access.roles import Role
from images.models import Image
from images.services import create_registry_credential
from tests.registry_stub import StubRegistry, serve
from tests.unit.roles_support import logged_in, make_site, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub():
    registry = StubRegistry()
    registry.add_image("demo/web", "v1", "2026-12-01T10:00:00Z", [2048])
    registry.add_image("demo/web", "v2", "2026-12-02T10:00:00Z", [4096])
    with serve(registry):
        yield registry


@pytest.fixture
def viewer():
    return logged_in(make_user("val", Role.VIEWER))


def test_a_viewer_walks_from_registries_to_a_tag_row(stub, viewer):
    record = create_registry_credential(name="lab", registry=stub.address, insecure=True)
    site = make_site("a")
    body = stub.manifests["demo/web:v1"][1]
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    name = f"{stub.address}/demo/web"
    Image.objects.filter(pk=site.image.pk).update(tags=[f"{name}:v1"], digests=[f"{name}@{digest}"])
    listing = viewer.get("/registries/").content.decode()
    assert f'href="/registries/{record.pk}/"' in listing and "anonymous" in listing
    repositories = viewer.get(f"/registries/{record.pk}/").content.decode()
    assert 'data-repository="demo/web"' in repositories
    tags = viewer.get(f"/registries/{record.pk}/", {"repository": "demo/web"}).content.decode()
    assert 'data-tag="v1"' in tags and 'data-tag="v2"' in tags
    row = viewer.get(f"/registries/{record.pk}/tag/", {"repository": "demo/web", "tag": "v1"})
    assert row.status_code == 200
    html = row.content.decode()
    assert digest[:19] in html
    current = html.split('data-testid="tag-hosts-current"')[1].split("</td>")[0]
    assert "host-a" in current


def test_a_malformed_repository_is_a_400_with_the_reason(stub, viewer):
    record = create_registry_credential(name="lab", registry=stub.address, insecure=True)
    answer = viewer.get(f"/registries/{record.pk}/", {"repository": "Not/Valid"})
    assert answer.status_code == 400
    assert "is not a repository name" in answer.content.decode()
    assert stub.requests == []


def test_an_unreachable_registry_is_a_message_not_a_500(viewer):
    record = create_registry_credential(name="gone", registry="127.0.0.1:9", insecure=True)
    answer = viewer.get(f"/registries/{record.pk}/")
    assert answer.status_code == 502
    assert "cannot reach registry 127.0.0.1:9" in answer.content.decode()
