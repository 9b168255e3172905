"""Agent progress arrives on the session's reader thread: lines buffered there reach the
operation's stream once, in order, when the handler's thread flushes."""

import threading

import pytest

from operations import streams
from operations.context import OperationContext
from operations.models import Operation

pytestmark = pytest.mark.django_db


def test_lines_streamed_from_another_thread_are_written_by_the_owner(monkeypatch):
    written = []
    monkeypatch.setattr(streams, "append", lambda pk, items: written.extend(items))
    operation = Operation.objects.create(action="container.logs", target_type="container")
    context = OperationContext(operation)

    def reader():
        for i in range(500):
            context.stream({"line": f"l{i}"})
            context.progress(lines=i + 1)

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join()
    assert written == []  # nothing written from the reader thread, not even at 200 lines
    context.flush()
    assert [item["line"] for item in written] == [f"l{i}" for i in range(500)]
    operation.refresh_from_db()
    assert operation.progress == {"lines": 500}
