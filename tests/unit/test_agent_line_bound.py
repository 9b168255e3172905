"""Lines the worker reads from an agent are size-bounded: a host that writes an endless
line (a compromised or broken agent) ends its own session with a reason, instead of
growing the worker's memory without limit."""

from __future__ import annotations

import io

from agent_link import session as session_module
from agent_link.session import AgentSession


class _Process:
    """The edge of the link: an agent process that has written ``output``."""

    def __init__(self, output: bytes) -> None:
        self.stdout = io.BytesIO(output)
        self.closed = False

    def write(self, data: bytes) -> None:
        raise EOFError("closed")

    def stderr_text(self) -> str:
        return ""

    def exit_code(self, wait: float = 0) -> int | None:
        return None

    def close(self) -> None:
        self.closed = True


def test_an_overlong_line_closes_the_session_with_the_reason(monkeypatch):
    monkeypatch.setattr(session_module, "MAX_LINE_BYTES", 1024)
    hello = b'{"hello": {"agent": "berth-agent", "protocol": 1}}\n'
    process = _Process(hello + b'{"id": 1, "ok": true, "result": "' + b"x" * 5000 + b'"}\n')
    agent = AgentSession(process, name="h1")  # type: ignore[arg-type]

    agent.start(timeout=5)
    agent._reader.join(5)

    assert not agent.alive
    assert "longer than 1024 bytes" in (agent._closed or "")
    assert process.closed


def test_lines_within_the_bound_are_read_whole(monkeypatch):
    monkeypatch.setattr(session_module, "MAX_LINE_BYTES", 1024)
    process = _Process(
        b'{"hello": {"agent": "berth-agent", "protocol": 1, "pad": "' + b"y" * 900 + b'"}}\n'
    )
    agent = AgentSession(process, name="h1")  # type: ignore[arg-type]

    hello = agent.start(timeout=5)

    assert hello["pad"] == "y" * 900
