"""Wire format: JSON lines framing, the serialized stdout writer and the stable error codes."""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Any

MAX_LINE_BYTES = 1 << 20

INVALID_REQUEST = "invalid_request"
REQUEST_TOO_LARGE = "request_too_large"
UNKNOWN_OP = "unknown_op"
INVALID_ARGUMENT = "invalid_argument"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
DOCKER_UNAVAILABLE = "docker_unavailable"
TIMEOUT = "timeout"
CANCELLED = "cancelled"
DOCKER_ERROR = "docker_error"
INTERNAL = "internal"
# service.deploy: the new container failed its health gate (the host was rolled back).
HEALTH_CHECK_FAILED = "health_check_failed"
# container.run, service.deploy: the host's container security policy refuses the spec
# (a bind mount outside ~/.berth/policy.json or on the hard deny list; a berth.* label).
POLICY_DENIED = "policy_denied"


class AgentError(Exception):
    """An error that becomes an ``{"ok": false, "error": {...}}`` reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidArgument(AgentError):
    """A request argument failed validation."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_ARGUMENT, message)


_write_lock = threading.Lock()
_closed = threading.Event()


def write_message(obj: dict[str, Any], out: IO[bytes] | None = None) -> bool:
    """Write one JSON line and flush; serialized across threads. False if stdout is gone."""
    # ensure_ascii keeps any lone surrogate from the input encodable; output stays valid UTF-8.
    data = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=str) + "\n"
    stream = out if out is not None else sys.stdout.buffer
    with _write_lock:
        if _closed.is_set():
            return False
        try:
            stream.write(data.encode("ascii"))
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            _closed.set()
            return False
    return True


def error_reply(req_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": req_id, "ok": False, "error": {"code": code, "message": message}}


def read_line(stream: IO[bytes]) -> tuple[bytes | None, bool]:
    """Read one line without ever buffering more than MAX_LINE_BYTES of it.

    Returns (line, too_large). line is None at EOF. An oversized line is drained to its
    newline and returned as (b"", True).
    """
    raw = stream.readline(MAX_LINE_BYTES + 2)
    if not raw:
        return None, False
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        return (b"", True) if len(raw) > MAX_LINE_BYTES else (raw, False)
    if len(raw) <= MAX_LINE_BYTES:
        return raw, False  # last line without a newline
    while True:
        rest = stream.readline(64 * 1024)
        if not rest or rest.endswith(b"\n"):
            return b"", True
