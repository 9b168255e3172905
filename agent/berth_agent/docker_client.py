"""The lazily created Docker SDK client and the mapping of SDK errors to agent error codes."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

from berth_agent.protocol import (
    CONFLICT,
    DOCKER_ERROR,
    DOCKER_UNAVAILABLE,
    INVALID_ARGUMENT,
    NOT_FOUND,
    TIMEOUT,
    AgentError,
)

API_TIMEOUT_S = 60
# One connection per worker thread (streams hold theirs for long), plus a little slack.
POOL_SIZE = 20

_url: str | None = None
_client: Any = None
_lock = threading.Lock()


def configure(url: str) -> None:
    """Set the engine URL (validated by the CLI) used when the client is first needed."""
    global _url
    _url = url


def engine_url() -> str:
    """The engine this agent drives (as configured; the SDK's default if unset)."""
    return _url or ""


def _import_docker() -> Any:
    # The SDK imports paramiko for ssh:// if it can find one; the agent never uses ssh://,
    # and a host's own site-packages paramiko would cost startup time and could be any version.
    sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]
    import docker

    return docker


def api() -> Any:
    """Return the shared ``docker.APIClient``, creating it on first use (thread-safe)."""
    global _client
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            docker = _import_docker()
            try:
                _client = docker.APIClient(
                    base_url=_url, version="auto", timeout=API_TIMEOUT_S, max_pool_size=POOL_SIZE
                )
            except docker.errors.DockerException as e:
                raise AgentError(DOCKER_UNAVAILABLE, f"cannot connect to {_url}: {e}") from None
        return _client


def prewarm() -> None:
    """Import the SDK and connect in the background so the first request is fast."""

    def run() -> None:
        with contextlib.suppress(Exception):
            api()

    threading.Thread(target=run, name="prewarm", daemon=True).start()


def _explanation(e: Any) -> str:
    explanation = getattr(e, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or e)


def translate_error(e: BaseException) -> AgentError | None:
    """Map an SDK/transport exception to an AgentError; None means 'a bug, report internal'."""
    if "docker" not in sys.modules:
        return None
    import docker.errors
    import requests.exceptions

    if isinstance(e, docker.errors.NotFound):  # includes ImageNotFound
        return AgentError(NOT_FOUND, _explanation(e))
    if isinstance(e, docker.errors.APIError):
        msg = _explanation(e)
        status = e.status_code
        if status == 409 or "port is already allocated" in msg or "address already in use" in msg:
            return AgentError(CONFLICT, msg)
        if status == 400:
            return AgentError(INVALID_ARGUMENT, msg)
        return AgentError(DOCKER_ERROR, msg)
    if isinstance(e, requests.exceptions.Timeout):
        return AgentError(TIMEOUT, f"the Docker engine did not answer in time: {e}")
    if isinstance(e, requests.exceptions.ConnectionError):
        return AgentError(DOCKER_UNAVAILABLE, f"cannot reach the Docker engine at {_url}: {e}")
    if isinstance(e, docker.errors.DockerException):
        return AgentError(DOCKER_ERROR, str(e))
    return None


def close_response(response: Any) -> None:
    """Abort a streaming HTTP response from another thread (unblocks a pending read)."""
    from docker.errors import DockerException
    from docker.types.daemon import CancellableStream

    try:
        CancellableStream(iter(()), response).close()
    except (OSError, AttributeError, DockerException):
        with contextlib.suppress(OSError):
            response.close()
