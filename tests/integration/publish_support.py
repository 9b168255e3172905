"""Helpers for the tests of tagging, pushing, committing and building images."""

from __future__ import annotations

import random
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.models import Image
from tests.fleet import wait_for


def online(host: Host) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what=f"{host.name} to come online",
    )


def finished(client, response, timeout: float = 180) -> dict:
    assert response.status_code == 202, response.content
    url = response.json()["operation_url"]

    def done():
        body = client.get(url).json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(done, timeout=timeout, interval=0.3, what=f"operation {url} to finish")


def post(client, name: str, args: list, body: dict):
    return client.post(reverse(name, args=args), body, content_type="application/json")


def pulled_image(client, host: Host, ref: str) -> Image:
    """``ref`` pulled onto ``host`` through Berth, as its image row."""
    operation = finished(client, post(client, "host-image-pull", [host.pk], {"ref": ref}))
    assert operation["status"] == "succeeded", operation["error"]
    return Image.objects.get(host=host, image_id=operation["result"]["id"])


def stream(client, operation_id: int) -> list[dict]:
    url = reverse("operation-stream", args=[operation_id])
    return client.get(url, {"offset": 0}).json()["items"]


BED = "198.18.0.1"  # the only address the test hosts reach


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], str]]:
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
