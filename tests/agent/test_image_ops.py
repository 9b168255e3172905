"""Image ops against the real engine and a private registry: inspect, remove, prune, pull."""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from tests.agent.helpers import Agent, build_busybox_image, docker_cli, unique


def _image_id(docker_host: str, ref: str) -> str:
    return docker_cli(docker_host, "image", "inspect", "-f", "{{.Id}}", ref).stdout.decode().strip()


def _import_tiny_image(docker_host: str, tmp_path, ref: str | None) -> str:
    """Import a one-file image (unique content); untagged when ref is None (dangling)."""
    payload = tmp_path / "hello.txt"
    payload.write_text(unique())
    archive = tmp_path / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(payload, arcname="hello.txt")
    args = ["import", str(archive)] + ([ref] if ref else [])
    return docker_cli(docker_host, *args).stdout.decode().strip()


def test_images_inspect_returns_a_summary_and_the_raw_attrs(
    agent: Agent, docker_host: str, test_image: str
) -> None:
    result = agent.ok("image.inspect", {"id": test_image})
    assert result["summary"]["id"] == _image_id(docker_host, test_image)
    assert test_image in result["summary"]["tags"]
    assert isinstance(result["summary"]["created"], int)
    assert result["attrs"]["Id"] == result["summary"]["id"]
    by_id = agent.ok("image.inspect", {"id": result["summary"]["id"]})
    assert by_id["summary"]["tags"] == result["summary"]["tags"]


def test_images_inspect_of_a_missing_image_is_not_found(agent: Agent) -> None:
    assert agent.call("image.inspect", {"id": "berth-test/nothing:0"}).code == "not_found"
    assert agent.call("image.inspect", {"id": "bad ref!"}).code == "invalid_argument"


def test_images_remove_untags_and_deletes(agent: Agent, docker_host: str, tmp_path) -> None:
    ref = f"berth-test/tiny:{unique()}"
    image_id = _import_tiny_image(docker_host, tmp_path, ref)
    result = agent.ok("image.remove", {"id": ref})
    assert result["untagged"] == [ref]
    assert image_id in result["deleted"]
    assert agent.call("image.remove", {"id": ref}).code == "not_found"


def test_images_remove_of_an_image_in_use_is_a_conflict_unless_forced(
    agent: Agent, docker_host: str, tmp_path, make_container
) -> None:
    ref = f"berth-test/tiny:{unique()}"
    image_id = _import_tiny_image(docker_host, tmp_path, ref)
    docker_cli(docker_host, "create", "--label", "berth-test-agent=1", ref, "x")
    assert agent.call("image.remove", {"id": image_id}).code == "conflict"
    assert agent.ok("image.remove", {"id": ref, "force": True})["untagged"] == [ref]


def test_images_prune_removes_dangling_images_only(
    agent: Agent, docker_host: str, tmp_path, test_image: str
) -> None:
    dangling = _import_tiny_image(docker_host, tmp_path, None)
    result = agent.ok("image.prune")
    assert dangling in result["deleted"]
    assert result["space_reclaimed"] >= 0
    assert agent.ok("image.inspect", {"id": test_image})
    assert agent.call("image.prune", {"all": "yes"}).code == "invalid_argument"


@pytest.fixture
def pushed_image(registry: str, docker_host: str) -> str:
    """A fresh image (unique content) pushed to the registry, then removed locally."""
    ref = f"{registry}/berth-agent-test/web:{unique('v')}"
    build_busybox_image(docker_host, ref, {"version.txt": ref})
    docker_cli(docker_host, "push", ref)
    docker_cli(docker_host, "rmi", ref)
    return ref


def test_images_pull_streams_layer_progress_and_returns_the_image(
    agent: Agent, docker_host: str, pushed_image: str
) -> None:
    reply = agent.call("image.pull", {"ref": pushed_image}, timeout=120)
    assert reply.ok is True, reply
    assert pushed_image in reply.result["tags"]
    repo = pushed_image.rsplit(":", 1)[0]
    assert reply.result["id"] == _image_id(docker_host, pushed_image)
    assert any(d.startswith(repo + "@sha256:") for d in reply.result["digests"])
    layers = [p for p in reply.progress if p.get("layer")]
    assert layers, reply.progress
    assert "Pull complete" in {p["status"] for p in layers}
    assert any("current" in p and "total" in p for p in layers)
    docker_cli(docker_host, "rmi", pushed_image, check=False)


def test_images_pull_by_digest_and_with_auth_fields(
    agent: Agent, docker_host: str, pushed_image: str
) -> None:
    first = agent.ok("image.pull", {"ref": pushed_image}, timeout=120)
    digest_ref = first["digests"][0]
    auth = {"username": "u", "password": "p", "serveraddress": pushed_image.split("/")[0]}
    again = agent.ok("image.pull", {"ref": digest_ref, "auth": auth}, timeout=120)
    assert again["id"] == first["id"]
    docker_cli(docker_host, "rmi", pushed_image, check=False)


def test_images_pull_of_a_missing_tag_is_not_found(agent: Agent, registry: str) -> None:
    reply = agent.call("image.pull", {"ref": f"{registry}/berth-agent-test/none:v0"}, timeout=60)
    assert reply.code == "not_found", reply


def test_images_pull_rejects_an_invalid_reference(agent: Agent) -> None:
    for bad in ("UPPER/case", "a b", "x:tag:tag", "", "repo@sha256:short", "-rf"):
        assert agent.call("image.pull", {"ref": bad}).code == "invalid_argument", bad
    reply = agent.call("image.pull", {"ref": "x", "auth": {"username": "u"}})
    assert reply.code == "invalid_argument" and "password" in reply.error["message"]


def test_the_registry_is_reachable(registry: str) -> None:
    out = subprocess.run(
        ["busybox", "wget", "-q", "-O", "-", f"http://{registry}/v2/"],
        capture_output=True,
        timeout=10,
    )
    assert out.returncode == 0
