"""Publishing ops against the real engine: tag (validated), commit with only the changes
dockerd allows, chunked uploads into ~/.berth/uploads (in order, private, deleted by
the build that reads them) and a build from an uploaded tar with its log streamed."""

from __future__ import annotations

import base64
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.helpers import IDLE_CMD, Agent, docker_cli, unique


@pytest.fixture
def home_agent(agent_pyz: Path, docker_host: str, tmp_path: Path) -> Iterator[Agent]:
    """An agent whose home (and so ~/.berth) is a fresh temp dir."""
    home = tmp_path / "home"
    (home / ".berth").mkdir(parents=True, mode=0o700)
    a = Agent(agent_pyz, docker_host, env={**os.environ, "HOME": str(home)})
    a.home = home  # type: ignore[attr-defined]
    yield a
    a.close()


def _chunk(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_tag_names_the_image_and_refuses_a_bad_repository(
    agent: Agent, test_image: str, docker_host: str
) -> None:
    repository = f"berth-test/{unique('tag')}"
    try:
        made = agent.ok("image.tag", {"id": test_image, "repository": repository, "tag": "x1"})
        assert f"{repository}:x1" in made["tags"]
        bad = agent.call("image.tag", {"id": test_image, "repository": "Bad Name", "tag": "x"})
        assert bad.code == "invalid_argument" and "repository" in bad.error["message"]
    finally:
        docker_cli(docker_host, "rmi", f"{repository}:x1", check=False)


def test_commit_applies_allowed_changes_and_refuses_others(
    agent: Agent, test_image: str, docker_host: str
) -> None:
    name, repository = unique("bt-commit"), f"berth-test/{unique('commit')}"
    docker_cli(docker_host, "run", "-d", "--name", name, test_image, *IDLE_CMD)
    try:
        refused = agent.call(
            "container.commit",
            {"container": name, "repository": repository, "changes": ["RUN id"]},
        )
        assert refused.code == "invalid_argument" and "CMD" in refused.error["message"]
        made = agent.ok(
            "container.commit",
            {
                "container": name,
                "repository": repository,
                "tag": "c1",
                "message": "kept",
                "changes": ["ENV MODE=kept"],
            },
        )
        assert f"{repository}:c1" in made["tags"]
        env = docker_cli(
            docker_host, "image", "inspect", "-f", "{{.Config.Env}}", f"{repository}:c1"
        )
        assert "MODE=kept" in env.stdout.decode()
    finally:
        docker_cli(docker_host, "rm", "-f", name, check=False)
        docker_cli(docker_host, "rmi", f"{repository}:c1", check=False)


def test_upload_chunks_land_in_order_in_a_private_file(home_agent: Agent) -> None:
    first = home_agent.ok("upload.write", {"upload": "op-1", "offset": 0, "data": _chunk(b"ab")})
    assert first == {"size": 2}
    gap = home_agent.call("upload.write", {"upload": "op-1", "offset": 5, "data": _chunk(b"x")})
    assert gap.code == "invalid_argument" and "holds 2 bytes" in gap.error["message"]
    home_agent.ok("upload.write", {"upload": "op-1", "offset": 2, "data": _chunk(b"cd")})
    path = home_agent.home / ".berth" / "uploads" / "op-1.tar"  # type: ignore[attr-defined]
    assert path.read_bytes() == b"abcd"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    escape = home_agent.call("upload.write", {"upload": "../x", "offset": 0, "data": ""})
    assert escape.code == "invalid_argument"
    assert home_agent.ok("upload.remove", {"upload": "op-1"}) == {"removed": True}
    assert not path.exists()


def test_build_from_an_upload_streams_its_log_and_deletes_the_upload(
    home_agent: Agent, test_image: str, docker_host: str
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        dockerfile = f"FROM {test_image}\nLABEL made=by-test\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        archive.addfile(info, io.BytesIO(dockerfile))
    home_agent.ok(
        "upload.write", {"upload": "op-2", "offset": 0, "data": _chunk(buffer.getvalue())}
    )
    ref = f"berth-test/{unique('build')}:b1"
    try:
        reply = home_agent.call("image.build", {"context_upload": "op-2", "tags": [ref]}, 120)
        assert reply.ok, reply
        assert ref in reply.result["tags"]
        assert any("LABEL made=by-test" in p.get("log", "") for p in reply.progress)
        uploads = home_agent.home / ".berth" / "uploads"  # type: ignore[attr-defined]
        assert not (uploads / "op-2.tar").exists()
        both = home_agent.call(
            "image.build", {"context_upload": "op-2", "git_url": "https://x.org/a.git"}
        )
        assert both.code == "invalid_argument"
    finally:
        docker_cli(docker_host, "rmi", ref, check=False)
