"""What a container, a service, a rollout and a revision run reads as the tag asked for
and the digest of the bits (``demo/web:v2 (sha256:efef…)``), in the API and on the
pages, so v1 and v2 never look the same."""

from __future__ import annotations

import html
import uuid

import pytest
from django.urls import reverse

from containers.models import Container
from deployments.models import Rollout, Service
from deployments.services import create_revision
from images.models import Image
from images.references import describe_images, digest_for, repository_of
from images.services import FleetImage

pytestmark = pytest.mark.django_db

REPO = "198.18.0.1:5000/demo/web"
V1 = "sha256:" + "cd" * 32
V2 = "sha256:" + "ef" * 32


def _service_container(host, name: str, revision: int, digest: str) -> Container:
    """A service container as a deploy by the revision's pinned digest leaves it."""
    return Container.objects.create(
        host=host,
        container_id=uuid.uuid4().hex,
        name=name,
        image=f"{REPO}@{digest}",
        image_id="sha256:" + uuid.uuid4().hex * 2,
        state="running",
        labels={"berth.service": "shop", "berth.revision": str(revision)},
    )


@pytest.fixture
def deployed(seeded):
    web1 = seeded["hosts"][0]
    return {
        **seeded,
        "v1": _service_container(web1, "shop-r1-aaaaaa", 1, V1),
        "v2": _service_container(web1, "shop-r2-bbbbbb", 2, V2),
    }


def _container(client, container: Container) -> dict:
    response = client.get(reverse("container-detail", args=[container.pk]))
    assert response.status_code == 200, response.content
    return response.json()


def test_a_service_container_deployed_by_digest_shows_its_revisions_tag_and_digest(
    admin_client, deployed
):
    assert _container(admin_client, deployed["v1"])["image"] == f"{REPO}:v1"
    assert _container(admin_client, deployed["v1"])["image_digest"] == V1
    assert _container(admin_client, deployed["v2"])["image"] == f"{REPO}:v2"
    assert _container(admin_client, deployed["v2"])["image_digest"] == V2


def test_the_container_list_shows_tags_and_digests(admin_client, deployed):
    response = admin_client.get(reverse("container-list"), {"name": "shop-r"})
    rows = {row["name"]: row for row in response.json()["results"]}
    assert (rows["shop-r1-aaaaaa"]["image"], rows["shop-r1-aaaaaa"]["image_digest"]) == (
        f"{REPO}:v1",
        V1,
    )
    assert (rows["shop-r2-bbbbbb"]["image"], rows["shop-r2-bbbbbb"]["image_digest"]) == (
        f"{REPO}:v2",
        V2,
    )


def test_a_container_run_by_tag_takes_its_digest_from_the_hosts_image(admin_client, deployed):
    container = deployed["container"]  # 198.18.0.1:5000/demo/web:v1, not a service's
    Image.objects.create(
        host=container.host,
        image_id="sha256:" + "12" * 32,
        tags=[f"{REPO}:v1"],
        digests=["elsewhere/web@sha256:" + "00" * 32, f"{REPO}@{V1}"],
    )
    container.image_id = "sha256:" + "12" * 32
    container.save(update_fields=["image_id"])
    assert _container(admin_client, container)["image"] == f"{REPO}:v1"
    assert _container(admin_client, container)["image_digest"] == V1


def test_a_container_whose_digest_nobody_knows_shows_an_empty_digest(admin_client, deployed):
    body = _container(admin_client, deployed["container"])
    assert (body["image"], body["image_digest"]) == (f"{REPO}:v1", "")


def test_services_rollouts_and_revisions_carry_image_and_image_digest(admin_client, deployed):
    service = admin_client.get(reverse("service-detail", args=[deployed["service"].pk])).json()
    assert (service["image"], service["image_digest"]) == (f"{REPO}:v2", V2)
    rollout = Rollout.objects.get(service=deployed["service"])
    body = admin_client.get(reverse("rollout-detail", args=[rollout.pk])).json()
    assert (body["image"], body["image_digest"]) == (f"{REPO}:v2", V2)
    revisions = admin_client.get(reverse("service-revisions", args=[deployed["service"].pk])).json()
    rows = revisions["results"] if isinstance(revisions, dict) else revisions
    assert {row["number"]: (row["image"], row["image_digest"]) for row in rows} == {
        1: (f"{REPO}:v1", V1),
        2: (f"{REPO}:v2", V2),
    }


def _shown(text: str, tag: str, digest: str) -> bool:
    """The tag, then the short digest, with the whole digest in the title."""
    short = f"({digest[:19]}…)"
    return f"<code>{tag}</code>" in text and f'title="{digest}">{short}' in html.unescape(text)


def test_the_pages_show_the_tag_and_a_short_digest(viewer_client, deployed):
    pages = {
        "containers": reverse("frontend:containers") + "?q=shop-r",
        "host": reverse("frontend:host", args=[deployed["hosts"][0].pk]),
    }
    for name, url in pages.items():
        text = viewer_client.get(url).text
        assert _shown(text, f"{REPO}:v1", V1), name
        assert _shown(text, f"{REPO}:v2", V2), name
    for container, tag, digest in ((deployed["v1"], "v1", V1), (deployed["v2"], "v2", V2)):
        text = viewer_client.get(reverse("frontend:container", args=[container.pk])).text
        assert _shown(text, f"{REPO}:{tag}", digest)
    services = viewer_client.get(reverse("frontend:services")).text
    assert _shown(services, f"{REPO}:v2", V2)
    service = viewer_client.get(reverse("frontend:service", args=[deployed["service"].pk])).text
    assert _shown(service, f"{REPO}:v1", V1)  # the history
    assert service.count(f"<code>{REPO}:v2</code>") == 2  # the history and the rollout


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("198.18.0.1:5000/demo/web:v2", "198.18.0.1:5000/demo/web"),
        ("198.18.0.1:5000/demo/web", "198.18.0.1:5000/demo/web"),
        (f"demo/web@{V1}", "demo/web"),
        (f"demo/web:v1@{V1}", "demo/web"),
    ],
)
def test_repository_of_drops_tag_and_digest(reference, repository):
    assert repository_of(reference) == repository


def test_digest_for_prefers_the_references_repository_and_knows_docker_hubs_short_names():
    digests = [f"other/web@{V2}", f"nginx@{V1}"]
    assert digest_for("docker.io/library/nginx:1.27", digests) == V1
    assert digest_for("mirror.example/web:v1", digests) == V2  # the same bits, elsewhere
    assert digest_for("nginx:1.27", []) == ""


def test_an_image_pulled_by_digest_shows_the_tag_it_was_deployed_as(viewer_client, deployed):
    web1 = deployed["hosts"][0]
    Image.objects.create(host=web1, image_id="sha256:" + "21" * 32, digests=[f"{REPO}@{V2}"])
    Image.objects.create(
        host=web1, image_id="sha256:" + "11" * 32, tags=[f"{REPO}:v1"], digests=[f"{REPO}@{V1}"]
    )
    Image.objects.create(host=web1, image_id="sha256:" + "31" * 32, digests=[f"other/x@{V1}"])
    for url in (reverse("frontend:images"), reverse("frontend:host", args=[web1.pk])):
        text = viewer_client.get(url).text
        assert _shown(text, f"{REPO}:v2", V2), url
        assert _shown(text, f"{REPO}:v1", V1), url
        assert _shown(text, "other/x", V1), url  # nobody deployed it: its repository


def test_a_docker_hub_image_is_found_however_its_revision_spelled_it(admin_user):
    service = Service.objects.create(name="proxy")
    revision = create_revision(service, spec={"image": "docker.io/library/nginx:1.27"})
    revision.digest = f"docker.io/library/nginx@{V1}"
    revision.save(update_fields=["digest"])
    image = FleetImage(id="sha256:" + "41" * 32, digests=[f"nginx@{V1}"])
    describe_images([image])
    assert image.references == [("docker.io/library/nginx:1.27", V1)]
