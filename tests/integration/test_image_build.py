"""Building an image on a host from a git repository served on the test bed (a
`git daemon` on 198.18.0.1 that the hosts' engines clone from) or from an uploaded
tarball (sent to the host in chunks, then deleted there): the build log in the
operation's stream, the tags pushed to the test registry, the pushed digest made a
revision of a service in the same step, and that revision deployed to another host,
which pulls it. A broken Dockerfile fails with the builder's message; a git URL that
is not one is a 400 before anything is queued."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from deployments import services as deployments
from deployments.models import Revision, Service
from operations.models import Operation, OperationUpload
from tests.integration import publish_support, rollout_support
from tests.integration.publish_support import finished, online, post, stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]

git_server = publish_support.git_server  # the fixture, for this module's tests


def _build(client, host_id: int, body: dict) -> dict:
    return finished(client, post(client, "host-image-build", [host_id], body), timeout=300)


def test_build_from_git_push_make_a_revision_and_deploy_it_on_another_host(
    register, admin_client, admin_user, fleet, git_server
):
    h2, h3 = online(register(fleet["h2"])), online(register(fleet["h3"]))
    url = git_server(
        "app",
        {
            "docker/app.Dockerfile": (
                f"FROM {fleet.registry}/demo/sleeper:v1\n"
                "ARG GREETING=none\n"
                'RUN echo "$GREETING" > /greeting.txt\n'
                "COPY hello.txt /hello.txt\n"
            ),
            "hello.txt": "hello from git\n",
        },
    )
    repository = f"{fleet.registry}/test-build-{uuid.uuid4().hex[:10]}"
    service = Service.objects.create(name=f"built-{uuid.uuid4().hex[:6]}")
    service.hosts.set([h3])
    first = deployments.create_revision(
        service, spec={"image": f"{fleet.registry}/demo/sleeper:v1", "env": {"MODE": "x"}}
    )

    operation = _build(
        admin_client,
        h2.pk,
        {
            "git_url": url,
            "dockerfile": "docker/app.Dockerfile",
            "build_args": {"GREETING": "hi-from-a-build-arg"},
            "labels": {"berth.test": "build"},
            "tags": [f"{repository}:b1"],
            "push": True,
            "revision_of": service.pk,
        },
    )

    assert operation["status"] == "succeeded", operation["error"]
    result = operation["result"]
    (pushed,) = result["pushed"]
    assert pushed.startswith(f"{repository}@sha256:")
    log = [item["line"] for item in stream(admin_client, operation["id"]) if "line" in item]
    assert any("COPY hello.txt /hello.txt" in line for line in log), log
    built = fleet["h2"].docker(
        "image", "inspect", f"{repository}:b1", "-f", "{{json .Config.Labels}}"
    )
    assert '"berth.test":"build"' in built.stdout
    # The pushed digest is the service's next revision, its other settings kept.
    assert result["revision"]["number"] == first.number + 1
    revision = Revision.objects.get(service=service, number=first.number + 1)
    assert revision.image == pushed and revision.spec["env"] == {"MODE": "x"}

    rollout = rollout_support.finished(
        deployments.request_deploy(service, revision, actor=admin_user), timeout=180
    )
    try:
        assert rollout.status == "succeeded", rollout_support.messages(rollout)
        (container,) = rollout_support.on_host(fleet, "h3", service.name)
        seen = fleet["h3"].docker("exec", container["id"], "cat", "/greeting.txt", "/hello.txt")
        assert seen.stdout.split("\n")[:2] == ["hi-from-a-build-arg", "hello from git"]
    finally:
        for container in rollout_support.on_host(fleet, "h3", service.name):
            fleet["h3"].docker("rm", "-f", container["id"], check=False)


def test_a_broken_dockerfile_fails_with_the_builders_message(
    register, admin_client, fleet, git_server
):
    h2 = online(register(fleet["h2"]))
    url = git_server(
        "broken", {"Dockerfile": f"FROM {fleet.registry}/demo/sleeper:v1\nRUN exit 7\n"}
    )

    operation = _build(admin_client, h2.pk, {"git_url": url})

    assert operation["status"] == "failed"
    assert operation["error"].startswith("the build failed: ")
    assert "returned a non-zero code: 7" in operation["error"]


@pytest.mark.parametrize(
    "git_url",
    ["ext::sh -c touch% /tmp/x", "file:///etc", "https://example.com/a b.git", "--upload-pack=x"],
)
def test_a_git_url_that_is_not_one_is_a_400_and_nothing_is_queued(
    register, admin_client, fleet, git_url
):
    h2 = online(register(fleet["h2"]))
    before = Operation.objects.count()

    response = post(admin_client, "host-image-build", [h2.pk], {"git_url": git_url})

    assert response.status_code == 400
    assert "git_url" in response.json()["errors"]
    assert Operation.objects.count() == before


def test_revision_of_needs_a_push_and_a_service(register, admin_client, fleet):
    h2 = online(register(fleet["h2"]))
    url = "git://198.18.0.1/app.git"

    no_push = post(admin_client, "host-image-build", [h2.pk], {"git_url": url, "revision_of": 1})
    no_service = post(
        admin_client,
        "host-image-build",
        [h2.pk],
        {"git_url": url, "tags": ["x/y:1"], "push": True, "revision_of": 999999},
    )

    assert no_push.status_code == 400 and "push" in no_push.json()["errors"]["revision_of"][0]
    assert (
        no_service.status_code == 400 and "999999" in no_service.json()["errors"]["revision_of"][0]
    )


def _tarball(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    buffer.name = "context.tar.gz"
    return buffer


def test_build_from_an_uploaded_tarball_push_and_run_it_on_another_host(
    register, admin_client, fleet
):
    h2, h3 = online(register(fleet["h2"])), online(register(fleet["h3"]))
    repository = f"{fleet.registry}/test-tarball-{uuid.uuid4().hex[:10]}"
    # Incompressible and over 1 MiB: the context goes to the host in several chunks.
    payload = os.urandom(1536 * 1024)
    tarball = _tarball(
        {
            "Dockerfile": f"FROM {fleet.registry}/demo/sleeper:v1\nCOPY . /ctx/\n".encode(),
            "note.txt": b"from a tarball\n",
            "payload.bin": payload,
        }
    )

    response = admin_client.post(
        reverse("host-image-build", args=[h2.pk]),
        {"tarball": tarball, "tags": json.dumps([f"{repository}:t1"]), "push": "true"},
    )
    operation = finished(admin_client, response, timeout=300)

    assert operation["status"] == "succeeded", operation["error"]
    assert operation["params"]["context_bytes"] == len(tarball.getvalue())
    (pushed,) = operation["result"]["pushed"]
    # Nothing of the upload is left: not in the database, not on the host.
    assert not OperationUpload.objects.filter(operation_id=operation["id"]).exists()
    uploads = Path(fleet.raw_host("h2")["home"]) / ".berth" / "uploads"
    assert not (uploads / f"op-{operation['id']}.tar").exists()
    pull = post(admin_client, "host-image-pull", [h3.pk], {"ref": pushed})
    assert finished(admin_client, pull)["status"] == "succeeded"
    seen = fleet["h3"].docker(
        "run", "--rm", pushed, "sh", "-c", "cat /ctx/note.txt; md5sum /ctx/payload.bin"
    )
    note, digest = seen.stdout.splitlines()
    assert note == "from a tarball"
    assert digest.split()[0] == hashlib.md5(payload).hexdigest()  # noqa: S324 - a checksum


def test_a_tarball_that_is_not_one_or_too_big_is_a_400(register, admin_client, fleet, settings):
    h2 = online(register(fleet["h2"]))
    url = reverse("host-image-build", args=[h2.pk])
    before = Operation.objects.count()
    not_tar = io.BytesIO(b"FROM scratch\n" * 100)
    not_tar.name = "Dockerfile"

    refused = admin_client.post(url, {"tarball": not_tar})
    settings.BERTH_BUILD_CONTEXT_MAX_BYTES = 1024
    too_big = admin_client.post(url, {"tarball": _tarball({"Dockerfile": os.urandom(4096)})})
    both = admin_client.post(
        url, {"tarball": _tarball({"Dockerfile": b"FROM x\n"}), "git_url": "https://x.org/a.git"}
    )

    assert refused.status_code == 400 and "tar file" in refused.json()["errors"]["tarball"][0]
    assert too_big.status_code == 400 and "at most 1024" in too_big.json()["errors"]["tarball"][0]
    assert both.status_code == 400 and "either" in both.json()["errors"]["git_url"][0]
    assert Operation.objects.count() == before
