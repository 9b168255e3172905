"""The registry and the demo images it is seeded with."""

from __future__ import annotations

import base64
import http.client
import io
import subprocess
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .common import (
    APPLETS,
    BUSYBOX,
    HEALTHCHECK,
    IMAGE_MTIME,
    IMAGES_DIR,
    REGISTRY,
    REGISTRY_CONFIG,
    REGISTRY_IP,
    REGISTRY_LOG,
    REGISTRY_PID,
    REGISTRY_STORAGE,
    TestbedError,
    parallel,
    tail,
    wait_for,
)
from .daemons import docker_api, docker_stream
from .hosts import Host
from .processes import owned_pid


def start_registry() -> int:
    REGISTRY_STORAGE.mkdir(parents=True, exist_ok=True)
    REGISTRY_CONFIG.write_text(
        f"""\
version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {REGISTRY_STORAGE}}}
  delete: {{enabled: true}}
http: {{addr: "{REGISTRY}", secret: berth-testbed}}
"""
    )
    with open(REGISTRY_LOG, "wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(REGISTRY_CONFIG)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    REGISTRY_PID.write_text(f"{process.pid}\n")

    def ready() -> bool:
        if process.poll() is not None:
            raise TestbedError(f"registry exited:\n{tail(REGISTRY_LOG)}")
        return registry_ping()

    wait_for(ready, 20, "the registry")
    return process.pid


def running_registry() -> int | None:
    return owned_pid(REGISTRY_PID, str(REGISTRY_CONFIG))


def registry_ping() -> bool:
    conn = http.client.HTTPConnection(REGISTRY_IP, 5000, timeout=2)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass(frozen=True)
class DemoImage:
    repository: str
    tag: str
    start_script: Path
    page: str | None = None
    health_path: str | None = None

    @property
    def reference(self) -> str:
        return f"{REGISTRY}/{self.repository}:{self.tag}"

    def changes(self) -> list[str]:
        changes = ['CMD ["/bin/start"]']
        if self.page is not None:
            changes.append("EXPOSE 80")
        if self.health_path is not None:
            changes.append(HEALTHCHECK.format(path=self.health_path))
        return changes

    def rootfs_tar(self) -> bytes:
        """A busybox root file system with the start script and index page."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:

            def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.size, info.linkname = kind, mode, len(data), link
                info.mtime = IMAGE_MTIME
                tar.addfile(info, io.BytesIO(data) if data else None)

            for directory in ["bin", "etc", "dev", "proc", "sys", "root", "var", "www"]:
                add(directory, tarfile.DIRTYPE, 0o755)
            add("tmp", tarfile.DIRTYPE, 0o1777)
            add("bin/busybox", tarfile.REGTYPE, 0o755, BUSYBOX.read_bytes())
            for applet in APPLETS:
                add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
            add("bin/start", tarfile.REGTYPE, 0o755, self.start_script.read_bytes())
            add("etc/passwd", tarfile.REGTYPE, 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
            add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\n")
            if self.page is not None:
                add("www/index.html", tarfile.REGTYPE, 0o644, f"{self.page}\n".encode())
        return buffer.getvalue()


DEMO_IMAGES = [
    DemoImage("demo/web", "v1", IMAGES_DIR / "web/start", "demo web v1", "/"),
    DemoImage("demo/web", "v2", IMAGES_DIR / "web/start", "demo web v2", "/"),
    # v3's health check asks for a page that does not exist: always unhealthy.
    DemoImage("demo/web", "v3", IMAGES_DIR / "web/start", "demo web v3", "/healthz"),
    DemoImage("demo/sleeper", "v1", IMAGES_DIR / "sleeper/start"),
]
REGISTRY_AUTH = {"X-Registry-Auth": base64.urlsafe_b64encode(b"{}").decode()}


def build_and_push(sock: Path, image: DemoImage) -> None:
    repository, tag = image.reference.rsplit(":", 1)
    query = urllib.parse.urlencode(
        {"fromSrc": "-", "repo": repository, "tag": tag, "changes": image.changes()},
        doseq=True,
    )
    docker_stream(sock, "POST", f"/images/create?{query}", body=image.rootfs_tar(),
                  headers={"Content-Type": "application/x-tar"})  # fmt: skip
    docker_stream(sock, "POST", f"/images/{repository}/push?tag={tag}",
                  headers=REGISTRY_AUTH, timeout=120)  # fmt: skip


def remove_image(sock: Path, reference: str) -> None:
    status, data = docker_api(sock, "DELETE", f"/images/{reference}?force=1")
    if status not in (200, 404):
        raise TestbedError(f"removing {reference}: {status} {data.decode().strip()}")


def seed_registry(builder: Host, checker: Host) -> None:
    """Build the demo images on builder, push them, and check a pull on checker."""
    parallel(lambda image: build_and_push(builder.docker_sock, image), DEMO_IMAGES)
    for image in DEMO_IMAGES:
        remove_image(builder.docker_sock, image.reference)
    sleeper = DEMO_IMAGES[-1]
    repository, tag = sleeper.reference.rsplit(":", 1)
    query = urllib.parse.urlencode({"fromImage": repository, "tag": tag})
    docker_stream(checker.docker_sock, "POST", f"/images/create?{query}",
                  headers=REGISTRY_AUTH, timeout=120)  # fmt: skip
    remove_image(checker.docker_sock, sleeper.reference)
