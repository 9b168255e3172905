"""Building an image on a host from a git repository served on the test bed (a
`git daemon` on 198.18.0.1 that the hosts' engines clone from): the build log in the
operation's stream, the tags pushed to the test registry, the pushed digest made a
revision of a service in the same step, and that revision deployed to another host,
which pulls it. A broken Dockerfile fails with the builder's message; a git URL that
is not one is a 400 before anything is queued."""

from __future__ import annotations

import random
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments import services as deployments
from deployments.models import Revision, Service
from operations.models import Operation
from tests.fleet import wait_for
from tests.integration import rollout_support
from tests.integration.publish_support import finished, online, post, stream

pytestmark = pytest.mark.django_db(transaction=True)

BED = "198.18.0.1"  # the only address the test hosts reach


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[callable]:
    """serve(name, files) -> a git:// URL of a repository holding ``files`` on its branch
    main, served by a
    `git daemon` on the test bed's address for as long as the test runs."""
    base = tmp_path / "served"
    base.mkdir()
    port = random.randint(20000, 39999)
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={base}",
            f"--listen={BED}",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex((BED, port)) == 0

    wait_for(listening, timeout=10, interval=0.1, what="git daemon to listen")

    def serve(name: str, files: dict[str, str]) -> str:
        work = tmp_path / f"work-{name}"
        work.mkdir()
        for path, text in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        _git(work, "init", "-q", "-b", "main")
        _git(work, "add", ".")
        _git(work, "commit", "-q", "-m", "context")
        _git(tmp_path, "clone", "-q", "--bare", str(work), str(base / f"{name}.git"))
        # Without a #ref the engine fetches "master".
        return f"git://{BED}:{port}/{name}.git#main"

    try:
        yield serve
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


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
    log = [item["log"] for item in stream(admin_client, operation["id"]) if "log" in item]
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
