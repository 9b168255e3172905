"""A small Registry HTTP API v2 server for the tests of the registry browser.

Faking at the edge: the real test registry (198.18.0.1:5000, the distribution registry
without auth) cannot show a login, a token server, a multi-platform index or a catalog
long enough to page, so these are served here over real HTTP on 127.0.0.1, the way
the distribution spec and Docker Hub's token flow describe them. The tests of the
client against the real registry are in tests/integration/test_registry_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
TOKEN = "stub-token-7f3a"


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class StubRegistry:
    """What the stub serves. ``auth`` is "none", "basic" or "bearer"; the login is
    ``username``/``password``; ``requests`` records (method, path, Authorization)."""

    auth: str = "none"
    username: str = "robot"
    password: str = "stub-Secret-9"
    repositories: list[str] = field(default_factory=list)
    tags: dict[str, list[str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    address: str = ""

    def add_image(self, repository: str, tag: str, created: str, layers: list[int]) -> str:
        """Store a single-platform image under ``repository:tag``; its manifest digest."""
        config = json.dumps({"created": created, "architecture": "amd64"}).encode()
        self.blobs[_digest(config)] = config
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": "x", "size": len(config), "digest": _digest(config)},
                "layers": [
                    {"mediaType": "x", "size": size, "digest": f"sha256:{i:064d}"}
                    for i, size in enumerate(layers)
                ],
            }
        ).encode()
        return self._put(repository, tag, DOCKER_MANIFEST, manifest)

    def add_index(self, repository: str, tag: str, platforms: dict[str, str]) -> str:
        """An OCI index under ``repository:tag`` over already stored image manifests
        (platform "os/arch" → manifest digest), plus an attestation entry."""
        entries = [
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": digest,
                "size": len(self.manifests[f"{repository}@{digest}"][1]),
                "platform": dict(zip(["os", "architecture"], platform.split("/"), strict=True)),
            }
            for platform, digest in platforms.items()
        ]
        entries.append(
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": "sha256:" + "a" * 64,
                "size": 1,
                "platform": {"os": "unknown", "architecture": "unknown"},
            }
        )
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        return self._put(repository, tag, OCI_INDEX, body.encode())

    def _put(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        digest = _digest(body)
        self.manifests[f"{repository}:{tag}"] = (media_type, body)
        self.manifests[f"{repository}@{digest}"] = (media_type, body)
        if repository not in self.repositories:
            self.repositories.append(repository)
        self.tags.setdefault(repository, []).append(tag)
        return digest


class _Handler(BaseHTTPRequestHandler):
    stub: StubRegistry

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, **headers: str) -> None:
        # The distribution spec's error body.
        body = {"errors": [{"code": code, "message": message}]}
        self._send(status, body, {name.replace("_", "-"): v for name, v in headers.items()})

    def _authorized(self, scope: str) -> bool:
        sent = self.headers.get("Authorization", "")
        stub = self.stub
        if stub.auth == "none":
            return True
        if stub.auth == "basic":
            login = base64.b64encode(f"{stub.username}:{stub.password}".encode()).decode()
            if sent == f"Basic {login}":
                return True
            self._error(401, "UNAUTHORIZED", "authentication required", WWW_Authenticate="Basic")
            return False
        if sent == f"Bearer {TOKEN}":
            return True
        challenge = f'Bearer realm="http://{stub.address}/token",service="stub",scope="{scope}"'
        self._error(401, "UNAUTHORIZED", "authentication required", WWW_Authenticate=challenge)
        return False

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        stub = self.stub
        stub.requests.append(("GET", self.path, self.headers.get("Authorization", "")))
        if path == "/token":
            login = base64.b64encode(f"{stub.username}:{stub.password}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {login}":
                self._send(401, {"details": "incorrect username or password"})
            else:
                self._send(200, {"token": TOKEN, "expires_in": 300})
            return
        if path == "/v2/_catalog":
            if not self._authorized("registry:catalog:*"):
                return
            self._page(sorted(stub.repositories), "repositories", query, path)
            return
        name = path.removeprefix("/v2/").removesuffix("/tags/list")
        if path.startswith("/v2/") and path.endswith("/tags/list"):
            if not self._authorized(f"repository:{name}:pull"):
                return
            if name not in stub.tags:
                self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
                return
            self._page(sorted(stub.tags[name]), "tags", query, path, extra={"name": name})
            return
        for kind in ("/manifests/", "/blobs/"):
            if kind in path:
                name, _, reference = path.removeprefix("/v2/").partition(kind)
                if not self._authorized(f"repository:{name}:pull"):
                    return
                if kind == "/blobs/":
                    blob = stub.blobs.get(reference)
                    if blob is None:
                        self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                    else:
                        self._send(200, blob, {"Content-Type": "application/octet-stream"})
                    return
                sep = "@" if reference.startswith("sha256:") else ":"
                found = stub.manifests.get(f"{name}{sep}{reference}")
                if found is None:
                    self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                    return
                media_type, body = found
                headers = {"Content-Type": media_type, "Docker-Content-Digest": _digest(body)}
                self._send(200, body, headers)
                return
        self._error(404, "NOT_FOUND", "not found")

    def _page(
        self,
        names: list[str],
        key: str,
        query: dict[str, list[str]],
        path: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        # As the distribution registry pages: ?n= names after ?last=, with a Link to the next.
        size = int(query.get("n", ["100"])[0])
        last = query.get("last", [""])[0]
        rest = [name for name in names if name > last] if last else names
        page = rest[:size]
        headers = {"Content-Type": "application/json"}
        if len(rest) > size:
            headers["Link"] = f'<{path}?last={page[-1]}&n={size}>; rel="next"'
        self._send(200, {**(extra or {}), key: page}, headers)


@contextmanager
def serve(stub: StubRegistry) -> Iterator[StubRegistry]:
    """Serve ``stub`` on 127.0.0.1 (a free port) for the length of the block."""
    handler = type("Handler", (_Handler,), {"stub": stub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    stub.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
