"""The hello line: agent identity plus a quick, SDK-free probe of the Docker engine."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from typing import Any

from berth_agent import AGENT_VERSION, PROTOCOL_VERSION
from berth_agent.protocol import write_message

PROBE_TIMEOUT_S = 2.0
MAX_RESPONSE = 1 << 20


def _http_get(url: str, path: str, timeout: float) -> tuple[int, bytes]:
    """A minimal HTTP/1.0 GET (the server closes the connection after the body).

    Hand-rolled because importing http.client (email, ssl) would cost ~20 ms before hello.
    """
    if url.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: Any = url[len("unix://") :]
    else:
        host, _, port = url[len("tcp://") :].rpartition(":")
        host = host.strip("[]")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        address = (host, int(port))
    with sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
        chunks = []
        size = 0
        while size < MAX_RESPONSE:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError("not an HTTP response")
    return int(parts[1]), body


def probe_docker(url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[dict | None, str | None]:
    """GET /version from the engine; returns (version facts, None) or (None, reason)."""
    try:
        status, body = _http_get(url, "/version", timeout)
        if status != 200:
            return None, f"GET /version on {url} answered HTTP {status}"
        data = json.loads(body)
    except socket.timeout:
        return None, f"cannot connect to {url}: timed out after {timeout:g} s"
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        return None, f"cannot connect to {url}: {reason}"
    except ValueError as e:
        return None, f"bad answer from {url}: {e}"
    if not isinstance(data, dict):
        return None, f"bad answer from {url}: /version is not an object"
    return {
        "version": data.get("Version"),
        "api_version": data.get("ApiVersion"),
        "os": data.get("Os"),
        "arch": data.get("Arch"),
    }, None


def pyz_sha256() -> str | None:
    """SHA-256 of the zipapp this code was loaded from, or None when not run from a zip."""
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None)
    if not archive or not os.path.isfile(archive):
        return None
    h = hashlib.sha256()
    with open(archive, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hello_message(url: str) -> dict[str, Any]:
    """Build the hello object (the first line the agent writes)."""
    docker, error = probe_docker(url)
    return {
        "hello": {
            "agent": "berth-agent",
            "version": AGENT_VERSION,
            "protocol": PROTOCOL_VERSION,
            "sha256": pyz_sha256(),
            "python": "{}.{}.{}".format(*sys.version_info[:3]),
            "pid": os.getpid(),
            "docker": docker,
            "docker_error": error,
        }
    }


def send_hello(url: str) -> None:
    """Write the hello line to stdout."""
    write_message(hello_message(url))
