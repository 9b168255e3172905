"""Image layers, a container's writable layer and the host's disk usage, against the real
engine: an image's history maps onto its layers (config-only steps make none) and a layer
another image was built on is marked shared with it; a container's diff lists what it
added, changed and deleted, capped; ``host.disk`` sums ``system df`` as the engine's own
docker CLI does. The sums and the history mapping are also checked on made-up answers
(an engine of API 1.52 that sums by itself, sizes Docker does not know), run by the
agent's Python."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests import docker_df
from tests.agent.helpers import IDLE_CMD, PYTHON, Agent, docker_cli, unique


def _image_id(docker_host: str, ref: str) -> str:
    return docker_cli(docker_host, "image", "inspect", "-f", "{{.Id}}", ref).stdout.decode().strip()


def _rootfs(docker_host: str, ref: str) -> list[str]:
    out = docker_cli(docker_host, "image", "inspect", "-f", "{{json .RootFS.Layers}}", ref)
    return json.loads(out.stdout)


@pytest.fixture
def images(docker_host: str) -> Any:
    """Names for test images, removed afterwards."""
    made: list[str] = []

    def name(prefix: str) -> str:
        ref = f"berth-test/{prefix}:{unique()}"
        made.append(ref)
        return ref

    yield name
    for ref in made:
        docker_cli(docker_host, "rmi", "-f", ref, check=False)


def _exec(docker_host: str, container: str, script: str) -> str:
    return docker_cli(docker_host, "exec", container, "sh", "-c", script).stdout.decode()


def test_layers_mark_the_layer_an_image_was_committed_on_as_shared(
    agent: Agent, docker_host: str, test_image: str, make_container, images
) -> None:
    base = make_container(*IDLE_CMD)
    _exec(docker_host, base, "echo drift > /made-here")
    derived = images("derived")
    docker_cli(docker_host, "commit", base, derived)
    base_id, derived_id = _image_id(docker_host, test_image), _image_id(docker_host, derived)

    result = agent.ok("image.layers", {"id": derived}, timeout=60)
    assert (result["id"], result["mapped"]) == (derived_id, True)
    assert result["tags"] == [derived] and result["compared"] >= 1
    bottom, top = result["history"]  # oldest first: the imported base, then the commit
    diff_ids = _rootfs(docker_host, derived)
    assert [bottom["digest"], top["digest"]] == diff_ids
    assert [row["digest"] for row in result["layers"]] == diff_ids
    assert (bottom["layer"], top["layer"]) == (0, 1)
    assert bottom["size"] > 0 and top["size"] > 0 and top["created_by"] == " ".join(IDLE_CMD)
    assert base_id in [s["id"] for s in bottom["shared_with"]]
    assert test_image in next(s["tags"] for s in bottom["shared_with"] if s["id"] == base_id)
    assert bottom["shared_count"] == len(bottom["shared_with"])
    assert derived_id not in [s["id"] for s in bottom["shared_with"]]  # never itself
    assert top["shared_with"] == [] and top["shared_count"] == 0
    # A layer is shared by its place in the stack (its chain id), not its content alone.
    assert result["layers"][0]["chain_id"] == diff_ids[0]
    assert result["layers"][1]["chain_id"] != diff_ids[1]

    from_base = agent.ok("image.layers", {"id": base_id}, timeout=60)
    [only] = from_base["history"]
    assert derived_id in [s["id"] for s in only["shared_with"]]


def test_layers_of_a_classic_build_skip_the_steps_that_only_change_the_config(
    agent: Agent, docker_host: str, test_image: str, images, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {test_image}\n"
        "WORKDIR /newdir\n"  # a layer of no bytes: only a directory
        "ENV MODE=test\n"
        "RUN mkdir /emptydir\n"  # the same
        "RUN echo hello > /hello\n"
        'CMD ["sh"]\n'
    )
    built = images("classic")
    docker_cli(
        docker_host, "build", "-q", "-t", built, str(tmp_path),
        env={**os.environ, "DOCKER_BUILDKIT": "0"},  # the classic builder: no buildx needed
    )  # fmt: skip

    result = agent.ok("image.layers", {"id": built}, timeout=60)
    assert result["mapped"] is True
    steps = {row["created_by"].split("#(nop)")[-1].strip(): row for row in result["history"][1:]}
    made = [row["digest"] for row in result["history"] if row["digest"]]
    assert made == _rootfs(docker_host, built)
    assert steps["WORKDIR /newdir"]["digest"] and steps["WORKDIR /newdir"]["size"] == 0
    assert steps["/bin/sh -c mkdir /emptydir"]["digest"]
    assert steps["/bin/sh -c echo hello > /hello"]["size"] > 0
    assert steps["ENV MODE=test"]["digest"] is None and steps["ENV MODE=test"]["layer"] is None
    assert steps['CMD ["sh"]']["digest"] is None


def test_layers_refuse_bad_arguments_and_say_what_is_missing(agent: Agent) -> None:
    assert agent.call("image.layers", {"id": "berth-test/nothing:0"}).code == "not_found"
    assert agent.call("image.layers", {"id": "bad ref!"}).code == "invalid_argument"
    assert agent.call("image.layers", {}).code == "invalid_argument"
    unknown = agent.call("image.layers", {"id": "x:1", "all": True})
    assert unknown.code == "invalid_argument" and "args.all" in unknown.error["message"]


def test_diff_lists_what_a_container_added_changed_and_deleted(
    agent: Agent, docker_host: str, make_container
) -> None:
    name = make_container(*IDLE_CMD)
    applet = next(a for a in _exec(docker_host, name, "ls /bin").split() if a != "busybox")
    _exec(docker_host, name, f"mkdir /work && echo drift > /work/made && rm /bin/{applet}")

    result = agent.ok("container.diff", {"id": name})
    assert (result["name"], result["state"], result["truncated"]) == (name, "running", False)
    kinds = {c["path"]: c["kind"] for c in result["changes"]}
    assert kinds == {
        "/work": "added",
        "/work/made": "added",
        "/bin": "changed",
        f"/bin/{applet}": "deleted",
    }
    assert result["counts"] == {"added": 2, "changed": 1, "deleted": 1}
    assert result["total"] == 4
    assert [c["path"] for c in result["changes"]] == sorted(kinds)
    assert result["size_rw"] >= len("drift\n") and result["size_root_fs"] > result["size_rw"]

    capped = agent.ok("container.diff", {"id": name, "limit": 1})
    assert capped["truncated"] is True and len(capped["changes"]) == 1
    assert (capped["total"], capped["counts"]) == (4, result["counts"])

    untouched = make_container(*IDLE_CMD, start=False)
    clean = agent.ok("container.diff", {"id": untouched})
    assert (clean["changes"], clean["total"], clean["state"]) == ([], 0, "created")


def test_diff_refuses_bad_arguments(agent: Agent) -> None:
    assert agent.call("container.diff", {"id": "no-such-container"}).code == "not_found"
    for args in ({}, {"id": "a b"}, {"id": "x", "limit": 0}, {"id": "x", "limit": 10001},
                 {"id": "x", "limit": "all"}, {"id": "x", "paths": ["/"]}):  # fmt: skip
        assert agent.call("container.diff", args).code == "invalid_argument", args


# --- disk usage -------------------------------------------------------------------------


def test_disk_usage_is_what_docker_system_df_says(
    agent: Agent, docker_host: str, make_container
) -> None:
    volume = unique("bt-vol")
    docker_cli(docker_host, "volume", "create", volume)
    try:
        writer = make_container(
            "sh", "-c", "head -c 50000 /dev/zero > /data/blob && head -c 7000 /dev/zero > /w",
            start=True, opts=("-v", f"{volume}:/data"),
        )  # fmt: skip
        docker_cli(docker_host, "wait", writer)
        make_container(*IDLE_CMD)
        # The engine is shared with other tests: two reads taken back to back, until
        # nothing changed between them.
        printed, docker, usage = docker_df.agrees(
            lambda: agent.ok("host.disk", {}, timeout=120),
            lambda: docker_cli(
                docker_host, "system", "df", "--format", "{{json .}}"
            ).stdout.decode(),
        )
        assert printed == docker
        assert set(usage) == {"images", "containers", "volumes", "build_cache", "volume_sizes"}
        for kind in ("images", "containers", "volumes", "build_cache"):
            assert 0 <= usage[kind]["reclaimable"] <= usage[kind]["size"]
            assert 0 <= usage[kind]["active"] <= usage[kind]["count"]
        assert usage["volume_sizes"][volume] >= 50000
        assert usage["containers"]["reclaimable"] >= 7000  # the writer has exited
        assert usage["containers"]["active"] >= 1
    finally:
        for container in docker_cli(
            docker_host, "ps", "-aq", "--filter", f"volume={volume}", check=False
        ).stdout.split():
            docker_cli(docker_host, "rm", "-f", container.decode(), check=False)
        docker_cli(docker_host, "volume", "rm", volume, check=False)
    assert agent.call("host.disk", {"kinds": ["images"]}).code == "invalid_argument"


# --- the sums and the history mapping, on made-up answers ---------------------------------


def _run_in_agent(agent_pyz: Path, code: str) -> Any:
    """Run ``code`` (which prints JSON) with the agent's modules, on the agent's Python."""
    script = f"import sys, json\nsys.path.insert(0, {str(agent_pyz)!r})\n" + textwrap.dedent(code)
    out = subprocess.run(
        [PYTHON, "-I", "-S", "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_an_engine_that_sums_by_itself_is_taken_at_its_word(agent_pyz: Path) -> None:
    answer = {
        "ImageUsage": {"ActiveCount": 2, "TotalCount": 5, "TotalSize": 900, "Reclaimable": 300},
        "ContainerUsage": {"ActiveCount": 1, "TotalCount": 3, "TotalSize": 60, "Reclaimable": 40},
        "VolumeUsage": {
            "ActiveCount": 1, "TotalCount": 2, "TotalSize": 500, "Reclaimable": 200,
            "Items": [{"Name": "pgdata", "UsageData": {"Size": 300, "RefCount": 1}},
                      {"Name": "nfs", "UsageData": {"Size": -1, "RefCount": 0}}],
        },
        "BuildCacheUsage": {"ActiveCount": 0, "TotalCount": 0, "TotalSize": 0, "Reclaimable": 0},
    }  # fmt: skip
    result = _run_in_agent(
        agent_pyz,
        f"""
        from berth_agent.ops import disk
        df = {answer!r}
        print(json.dumps({{"usage": disk.usage(df), "sizes": disk.volume_sizes(df)}}))
        """,
    )
    assert result["usage"]["images"] == {"count": 5, "active": 2, "size": 900, "reclaimable": 300}
    assert result["usage"]["containers"]["reclaimable"] == 40
    assert result["usage"]["volumes"] == {"count": 2, "active": 1, "size": 500, "reclaimable": 200}
    assert result["sizes"] == {"pgdata": 300, "nfs": None}


def test_older_engines_items_are_summed_as_their_docker_cli_sums_them(agent_pyz: Path) -> None:
    answer = {
        "LayersSize": 1000,
        "Images": [
            {"Containers": 1, "Size": 600, "SharedSize": 100},  # in use: 500 of its own
            {"Containers": 0, "Size": 300, "SharedSize": 100},
            {"Containers": 2, "Size": -1, "SharedSize": -1},  # sizes unknown: not counted
        ],
        "Containers": [
            {"State": "running", "SizeRw": 10},
            {"State": "exited", "SizeRw": 30},
            {"State": "paused", "SizeRw": 5},
            {"State": "created"},
        ],
        "Volumes": [
            {"Name": "a", "UsageData": {"Size": 100, "RefCount": 1}},
            {"Name": "b", "UsageData": {"Size": 40, "RefCount": 0}},
            {"Name": "c", "UsageData": {"Size": 70, "RefCount": -1}},  # unknown: neither
            {"Name": "d", "UsageData": {"Size": -1, "RefCount": 0}},
        ],
        "BuildCache": [
            {"Size": 50, "InUse": True, "Shared": False},
            {"Size": 20, "InUse": False, "Shared": False},
            {"Size": 99, "InUse": False, "Shared": True},  # counted once, elsewhere
        ],
    }
    result = _run_in_agent(
        agent_pyz,
        f"""
        from berth_agent.ops import disk
        print(json.dumps(disk.usage({answer!r})))
        """,
    )
    assert result == {
        "images": {"count": 3, "active": 2, "size": 1000, "reclaimable": 500},
        "containers": {"count": 4, "active": 2, "size": 45, "reclaimable": 30},
        "volumes": {"count": 4, "active": 1, "size": 210, "reclaimable": 40},
        "build_cache": {"count": 3, "active": 1, "size": 70, "reclaimable": 20},
    }


def test_a_history_that_does_not_say_which_steps_made_layers_is_not_guessed(
    agent_pyz: Path,
) -> None:
    result = _run_in_agent(
        agent_pyz,
        """
        from berth_agent.ops import images
        step = lambda size, by="": {"Size": size, "CreatedBy": by}
        history = [step(10), step(0, "/bin/sh -c #(nop)  ENV A=1"), step(0, "RUN mkdir /x"),
                   step(0, "COPY . /app # buildkit"), step(5, "RUN make"), step(0, "CMD [\\"x\\"]")]
        print(json.dumps({
            "sized": images.layer_steps(history, 2),
            "with_empty": images.layer_steps(history, 4),
            "every_step": images.layer_steps(history, 6),
            "unknown": images.layer_steps(history, 3),
            "config_only": [images.config_only(s["CreatedBy"]) for s in history],
            "commit": images.config_only("env"),
            "chain": images.chain_ids(["sha256:a", "sha256:b"]),
        }))
        """,
    )
    assert result["sized"] == [0, 4]
    assert result["with_empty"] == [0, 2, 3, 4]
    assert result["every_step"] == [0, 1, 2, 3, 4, 5]
    assert result["unknown"] is None
    assert result["config_only"] == [False, True, False, False, False, True]
    assert result["commit"] is False
    second = hashlib.sha256(b"sha256:a sha256:b").hexdigest()
    assert result["chain"] == ["sha256:a", f"sha256:{second}"]
