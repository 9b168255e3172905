"""Image layers, a container's writable layer and Docker's disk usage, through the API,
the handlers and the pages, with the hosts' agent faked: reads of what is stored are open
to viewers in scope, reads on a host are operator work recorded as operations; bad input
is a 400 with nothing queued; another scope's objects are 404; the handlers store what
the agent said (the disk measure also the volumes' sizes) and fail with a readable
reason; the fleet's usage is each host's last measure summed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from access.roles import Role
from agent_link.errors import AgentError
from containers import services as container_services
from hosts import disk
from hosts.agent import HostAgent
from hosts.choices import DiskKind
from hosts.models import DiskUsage
from images import services as image_services
from images.models import Image, ImageLayers
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from tests.unit.roles_support import logged_in, make_site, make_user
from volumes.models import Volume

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BASE = "sha256:" + "1" * 64
TOP = "sha256:" + "2" * 64


@pytest.fixture
def site():
    return make_site("a")


@pytest.fixture
def agent_says(monkeypatch):
    """agent_says(op, answer): HostAgent.call answers ``op`` with ``answer`` (raised when
    it is an exception); every call is recorded."""
    answers: dict[str, Any] = {}
    calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, op, args=None, **kwargs):
        calls.append((op, args or {}))
        answer = answers[op]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(HostAgent, "call", call)

    def say(op: str, answer: Any) -> list[tuple[str, dict[str, Any]]]:
        answers[op] = answer
        return calls

    return say


def _post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def _run(operation: Operation, handler) -> Any:
    return handler(operation, OperationContext(operation))


def _layers_answer(image: Image, sharer: Image) -> dict[str, Any]:
    shared = [
        {"id": sharer.image_id, "tags": sharer.tags},
        {"id": "sha256:" + "9" * 64, "tags": []},  # gone from Berth's records since
    ]
    return {
        "id": image.image_id,
        "tags": image.tags,
        "history": [
            {"created": 1_700_000_000, "created_by": "", "comment": "Imported from -",
             "size": 2_000_000, "layer": 0, "digest": BASE, "shared_with": shared,
             "shared_count": 2},
            {"created": 1_700_000_100, "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
             "comment": "", "size": 0, "layer": None, "digest": None, "shared_with": [],
             "shared_count": 0},
            {"created": 1_700_000_200, "created_by": "touch /x", "comment": "", "size": 3,
             "layer": 1, "digest": TOP, "shared_with": [], "shared_count": 0},
        ],
        "layers": [
            {"digest": BASE, "chain_id": BASE, "shared_with": shared, "shared_count": 2},
            {"digest": TOP, "chain_id": "sha256:" + "3" * 64, "shared_with": [],
             "shared_count": 0},
        ],
        "mapped": True,
        "compared": 4,
    }  # fmt: skip


def _sharer(site) -> Image:
    return Image.objects.create(
        host=site.host, image_id="sha256:" + "b" * 64, tags=["demo/sleeper:v1"]
    )


# --- image layers -------------------------------------------------------------------------


def test_layers_of_an_image_never_read_are_empty_with_no_read_time(admin_client, site):
    response = admin_client.get(reverse("host-image-layers", args=[site.image.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["image"], body["host"], body["host_name"]) == (
        site.image.pk,
        site.host.pk,
        site.host.name,
    )
    assert (body["read_at"], body["history"], body["layers"], body["shared"]) == (None, [], [], 0)


def test_reading_layers_stores_them_and_names_the_images_sharing_each(
    admin_client, site, agent_says
):
    sharer = _sharer(site)
    calls = agent_says("image.layers", _layers_answer(site.image, sharer))
    response = _post(admin_client, reverse("host-image-layers", args=[site.image.pk]))
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.host, operation.target_id) == (
        "image.layers",
        site.host,
        str(site.image.pk),
    )
    result = _run(operation, image_services._layers)
    assert calls == [("image.layers", {"id": site.image.image_id})]
    assert result == {
        "image": site.image.image_id, "steps": 3, "layers": 2, "shared": 1, "mapped": True,
        "compared": 4, "stored": True,
    }  # fmt: skip

    body = admin_client.get(reverse("host-image-layers", args=[site.image.pk])).json()
    assert body["read_at"] is not None and (body["mapped"], body["compared"]) == (True, 4)
    assert body["shared"] == 1
    bottom, config, top = body["history"]
    assert bottom["created"].startswith("2023-11-14T")
    assert bottom["digest"] == BASE and config["digest"] is None and top["layer"] == 1
    assert [(s["tags"], s["image"]) for s in bottom["shared_with"]] == [
        (["demo/sleeper:v1"], sharer.pk),
        ([], None),
    ]
    assert body["layers"][0]["shared_count"] == 2 and body["layers"][1]["shared_with"] == []

    # Read again: replaced, not added to.
    _run(operation, image_services._layers)
    assert ImageLayers.objects.count() == 1


def test_an_image_gone_from_its_host_fails_the_read_saying_so(admin_client, site, agent_says):
    agent_says("image.layers", AgentError("not_found", "No such image: sha256:aaaa"))
    agent_says("image.list", [])
    operation = image_services.request_layers(site.image, actor=None)
    with pytest.raises(OperationFailed, match=r"image demo/web:v1 is no longer on host-a"):
        _run(operation, image_services._layers)
    assert not Image.objects.filter(pk=site.image.pk).exists()  # the host's list was re-read


def test_layers_answer_viewers_and_scopes_like_the_image(site, viewer_client):
    other = make_site("b")
    ImageLayers.objects.create(image=other.image, read_at=timezone.now())
    url = reverse("host-image-layers", args=[site.image.pk])
    assert viewer_client.get(url).status_code == 200
    assert _post(viewer_client, url).status_code == 403
    scoped = logged_in(make_user("scoped", Role.OPERATOR, groups=[site.group]))
    other_url = reverse("host-image-layers", args=[other.image.pk])
    assert scoped.get(other_url).status_code == 404
    assert _post(scoped, other_url).status_code == 404
    assert scoped.get(url).status_code == 200
    assert not Operation.objects.filter(action="image.layers").exists()


def test_the_image_page_shows_the_layers_and_links_the_images_sharing_one(
    operator_client, site, agent_says
):
    sharer = _sharer(site)
    image_services.store_layers(site.host, site.image.image_id, _layers_answer(site.image, sharer))
    page = operator_client.get(reverse("frontend:image", args=[site.image.pk])).text
    assert f'data-layer="{BASE}"' in page and f'data-layer="{TOP}"' in page
    assert reverse("frontend:image", args=[sharer.pk]) in page and "demo/sleeper:v1" in page
    assert "no layer" in page  # the CMD step
    assert "1 of 2 layers shared" in page
    assert 'data-action="layers"' in page
    fragment = operator_client.get(reverse("frontend:image", args=[site.image.pk]), **HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    response = operator_client.post(reverse("frontend:image-layers", args=[site.image.pk]), **HTMX)
    assert response.status_code == 200 and 'data-testid="op-feedback"' in response.text
    assert Operation.objects.filter(action="image.layers", target_id=str(site.image.pk)).exists()


def test_viewers_see_the_image_page_without_buttons_and_their_reads_are_403(viewer_client, site):
    page = viewer_client.get(reverse("frontend:image", args=[site.image.pk])).text
    assert "Not read yet: an operator can read them." in page
    assert 'data-action="layers"' not in page and 'data-action="remove"' not in page
    refused = viewer_client.post(reverse("frontend:image-layers", args=[site.image.pk]))
    assert refused.status_code == 403
    assert not Operation.objects.filter(action="image.layers").exists()
    # The images list links each host's copy to its page.
    listed = viewer_client.get(reverse("frontend:images")).text
    assert reverse("frontend:image", args=[site.image.pk]) in listed


def test_an_image_page_out_of_scope_or_gone_is_404(site):
    other = make_site("b")
    scoped = logged_in(make_user("scoped", Role.VIEWER, groups=[site.group]))
    assert scoped.get(reverse("frontend:image", args=[other.image.pk])).status_code == 404
    gone = scoped.get(reverse("frontend:image", args=[other.image.pk]), **HTMX)
    assert 'data-testid="gone"' in gone.text


# --- a container's writable layer ---------------------------------------------------------

DIFF = {
    "id": "a" * 64, "name": "web-a", "state": "running", "size_rw": 12, "size_root_fs": 2_000_012,
    "counts": {"added": 2, "changed": 1, "deleted": 1}, "total": 4,
    "changes": [{"path": "/etc", "kind": "changed"}, {"path": "/etc/group", "kind": "deleted"},
                {"path": "/tmp", "kind": "added"}],
    "truncated": True,
}  # fmt: skip


@pytest.mark.parametrize(
    "body", [{"limit": 0}, {"limit": 10001}, {"limit": "10"}, {"limit": True}, {"paths": "/"}]
)
def test_a_bad_diff_request_is_a_400_and_nothing_is_queued(admin_client, site, body):
    response = _post(admin_client, reverse("container-diff", args=[site.container.pk]), body)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == set(body)
    assert not Operation.objects.filter(action="container.diff").exists()


def test_a_diff_is_an_operation_whose_result_lists_the_changed_paths(
    admin_client, site, agent_says
):
    calls = agent_says("container.diff", DIFF)
    url = reverse("container-diff", args=[site.container.pk])
    response = _post(admin_client, url, {"limit": 3})
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.params["limit"]) == ("container.diff", 3)
    assert _run(operation, container_services._diff) == DIFF
    assert calls == [("container.diff", {"id": site.container.container_id, "limit": 3})]
    default = Operation.objects.get(pk=_post(admin_client, url).json()["operation"])
    assert default.params["limit"] == 1000


def test_a_diff_of_a_container_gone_from_its_host_says_so(site, agent_says):
    agent_says("container.diff", AgentError("not_found", "No such container: aaaa"))
    operation = container_services.request_diff(site.container, actor=None)
    with pytest.raises(OperationFailed, match="container web-a no longer exists on host-a"):
        _run(operation, container_services._diff)


def test_the_container_page_shows_the_changed_paths_once_read(operator_client, site):
    page = operator_client.get(reverse("frontend:container", args=[site.container.pk])).text
    assert "Writable layer" in page and 'data-action="diff"' in page
    response = operator_client.post(
        reverse("frontend:container-diff", args=[site.container.pk]), **HTMX
    )
    assert response.status_code == 200
    operation = Operation.objects.get(action="container.diff")
    Operation.objects.filter(pk=operation.pk).update(status="succeeded", result=DIFF)
    card = operator_client.get(reverse("frontend:operation-feedback", args=[operation.pk])).text
    assert 'data-path="/etc/group" data-kind="deleted"' in card
    assert 'data-path="/tmp" data-kind="added"' in card
    assert "2 added, 1 changed, 1 deleted" in card and "12 B" in card
    assert "The first 3 of 4 paths" in card


def test_viewers_cannot_read_the_writable_layer(viewer_client, site):
    page = viewer_client.get(reverse("frontend:container", args=[site.container.pk])).text
    assert "Reading the writable layer needs the operator role." in page
    assert 'data-action="diff"' not in page
    assert viewer_client.post(
        reverse("frontend:container-diff", args=[site.container.pk])
    ).status_code == 403  # fmt: skip
    assert (
        _post(viewer_client, reverse("container-diff", args=[site.container.pk])).status_code == 403
    )
    assert not Operation.objects.filter(action="container.diff").exists()


# --- disk usage ---------------------------------------------------------------------------


def _usage(images: int, containers: int = 0, volumes: int = 0, cache: int = 0) -> dict:
    def kind(size: int, count: int = 1) -> dict[str, int]:
        return {"count": count, "active": 0, "size": size, "reclaimable": size // 2}

    return {
        "images": kind(images, 3),
        "containers": kind(containers),
        "volumes": kind(volumes),
        "build_cache": kind(cache, 0),
    }


def test_a_host_never_measured_has_null_numbers(admin_client, site):
    body = admin_client.get(reverse("host-disk", args=[site.host.pk])).json()
    assert body == {
        "images": None, "containers": None, "volumes": None, "build_cache": None,
        "size": None, "reclaimable": None, "host": site.host.pk, "host_name": "host-a",
        "measured_at": None,
    }  # fmt: skip


def test_a_measure_stores_each_kind_and_the_volume_sizes(admin_client, site, agent_says):
    Volume.objects.create(host=site.host, name="pgdata", driver="local")
    calls = agent_says(
        "host.disk",
        {**_usage(1000, 20, 300, 8), "volume_sizes": {"data-a": 100, "pgdata": None, "x": 5}},
    )
    response = _post(admin_client, reverse("host-measure-disk", args=[site.host.pk]))
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.host) == ("host.disk", site.host)
    result = _run(operation, disk._measure)
    assert calls == [("host.disk", {})]
    assert (result["size"], result["reclaimable"]) == (1328, 664)
    assert result["images"] == {"count": 3, "active": 0, "size": 1000, "reclaimable": 500}

    body = admin_client.get(reverse("host-disk", args=[site.host.pk])).json()
    assert body["measured_at"] is not None and body["size"] == 1328
    assert body["volumes"] == {"count": 1, "active": 0, "size": 300, "reclaimable": 150}
    sizes = dict(Volume.objects.filter(host=site.host).values_list("name", "size"))
    assert sizes == {"data-a": 100, "pgdata": None}
    assert Volume.objects.get(name="pgdata").size_measured_at is not None

    agent_says("host.disk", {**_usage(10), "volume_sizes": {}})
    _run(operation, disk._measure)  # measured again: replaced
    assert DiskUsage.objects.filter(host=site.host).count() == len(DiskKind)
    assert admin_client.get(reverse("host-disk", args=[site.host.pk])).json()["size"] == 10


def test_the_fleet_sums_each_hosts_last_measure_and_lists_the_largest_first(admin_client, site):
    other, never = make_site("b"), make_site("c")
    disk.store_usage(site.host, _usage(1000, 10))
    disk.store_usage(other.host, _usage(5000, 2, 40, 6))
    DiskUsage.objects.filter(host=site.host).update(measured_at=timezone.now() - timedelta(hours=3))
    body = admin_client.get(reverse("fleet-disk")).json()
    assert (body["hosts"], body["measured"]) == (3, 2)
    assert body["images"] == {"count": 6, "active": 0, "size": 6000, "reclaimable": 3000}
    assert body["containers"]["size"] == 12 and body["build_cache"]["count"] == 0
    assert (body["size"], body["reclaimable"]) == (6058, 3029)
    assert body["oldest_measure"] < body["newest_measure"]

    rows = admin_client.get(reverse("fleet-disk-hosts"), {"ordering": "-size"}).json()
    assert [row["host_name"] for row in rows["results"]] == ["host-b", "host-a", "host-c"]
    assert rows["results"][2]["measured_at"] is None and rows["results"][2]["images"] is None
    by_name = admin_client.get(reverse("fleet-disk-hosts")).json()["results"]
    assert [row["host_name"] for row in by_name] == ["host-a", "host-b", "host-c"]
    assert never.host.pk == by_name[2]["host"]

    page = admin_client.get(reverse("frontend:disk")).text
    assert page.index('data-host="host-b"') < page.index('data-host="host-a"')
    assert page.index('data-host="host-a"') < page.index('data-host="host-c"')
    assert "2 of 3 hosts measured" in page and "not measured" in page


def test_disk_usage_is_limited_to_the_callers_scope(site):
    other = make_site("b")
    disk.store_usage(site.host, _usage(1000))
    disk.store_usage(other.host, _usage(7000))
    scoped = logged_in(make_user("scoped", Role.OPERATOR, groups=[site.group]))
    body = scoped.get(reverse("fleet-disk")).json()
    assert (body["hosts"], body["size"]) == (1, 1000)
    listed = scoped.get(reverse("fleet-disk-hosts")).json()["results"]
    assert [row["host"] for row in listed] == [site.host.pk]
    assert scoped.get(reverse("host-disk", args=[other.host.pk])).status_code == 404
    assert _post(scoped, reverse("host-measure-disk", args=[other.host.pk])).status_code == 404
    refused = _post(scoped, reverse("fleet-disk-measure"), {"hosts": [other.host.pk]})
    assert refused.status_code == 400 and "hosts" in refused.json()["errors"]
    assert not Operation.objects.filter(action__endswith="host.disk").exists()
    page = scoped.get(reverse("frontend:disk")).text
    assert 'data-host="host-a"' in page and "host-b" not in page

    everything = _post(scoped, reverse("fleet-disk-measure"), {"all": True})
    assert everything.status_code == 202 and everything.json()["matched"] == 1
    [child] = Operation.objects.filter(action="host.disk")
    assert child.host == site.host and child.parent.action == "bulk.host.disk"


@pytest.mark.parametrize(
    "body", [{}, {"all": False}, {"hosts": []}, {"hosts": [1], "all": True}, {"every": True}]
)
def test_a_fleet_measure_must_say_which_hosts(admin_client, site, body):
    if body.get("hosts"):
        body = {**body, "hosts": [site.host.pk]}
    response = _post(admin_client, reverse("fleet-disk-measure"), body)
    assert response.status_code == 400, response.content
    assert not Operation.objects.filter(action__endswith="host.disk").exists()


def test_viewers_read_disk_usage_and_cannot_measure(viewer_client, site):
    disk.store_usage(site.host, _usage(1000))
    assert viewer_client.get(reverse("host-disk", args=[site.host.pk])).status_code == 200
    assert viewer_client.get(reverse("fleet-disk")).status_code == 200
    for url in (reverse("host-measure-disk", args=[site.host.pk]), reverse("fleet-disk-measure")):
        assert _post(viewer_client, url, {"all": True}).status_code == 403
    host_page = viewer_client.get(reverse("frontend:host", args=[site.host.pk])).text
    assert 'data-testid="disk-usage"' in host_page and 'data-action="measure-disk"' not in host_page
    disk_page = viewer_client.get(reverse("frontend:disk")).text
    assert 'data-action="measure-all"' not in disk_page
    for url in (reverse("frontend:host-disk-measure", args=[site.host.pk]),
                reverse("frontend:disk-measure")):  # fmt: skip
        assert viewer_client.post(url).status_code == 403
    assert not Operation.objects.filter(action__endswith="host.disk").exists()


def test_operators_measure_from_the_host_page_and_the_disk_page(operator_client, site):
    host_page = operator_client.get(reverse("frontend:host", args=[site.host.pk])).text
    assert "Not measured yet" in host_page and 'data-action="measure-disk"' in host_page
    operator_client.post(reverse("frontend:host-disk-measure", args=[site.host.pk]), **HTMX)
    operator_client.post(reverse("frontend:disk-measure"), **HTMX)
    actions = sorted(Operation.objects.values_list("action", flat=True))
    assert actions.count("host.disk") == 2 and "bulk.host.disk" in actions
