"""Log records that say which operation, host and Celery task they belong to.

Operation runs set a context (``log_context``); ``ContextFilter``, attached to the
handlers in ``settings.LOGGING``, copies it and the current Celery task id onto every
record, so a line logged anywhere below an operation (the agent link, a service,
a library) can be traced back to it. Two formatters read those fields: plain text
(the default) and one JSON object per line (``BERTH_LOG_FORMAT=json``) for log
collectors.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# The fields a record may carry, in the order the text format shows them.
CONTEXT_FIELDS = ("operation_id", "host", "task_id")

# Never mutated in place: each change sets a new mapping, so a reset restores the old one.
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "berth_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (operation_id, host) to every record logged inside the block.

    Nested blocks add to the outer one; a None value leaves the outer value alone.
    """
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Add ``fields`` to the current context until the enclosing log_context block ends.

    For a value learnt part-way through a block (the host, once the operation is
    loaded); outside any block it would stay for the rest of the thread.
    """
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def current_context() -> dict[str, Any]:
    """The fields log_context has set here, plus the id of the Celery task running."""
    fields = dict(_context.get())
    if "task_id" not in fields:
        task_id = _current_task_id()
        if task_id:
            fields["task_id"] = task_id
    return fields


def _current_task_id() -> str | None:
    # Celery keeps the running task per thread; outside a worker there is none.
    from celery._state import get_current_task

    task = get_current_task()
    request = getattr(task, "request", None) if task is not None else None
    return getattr(request, "id", None)


class ContextFilter(logging.Filter):
    """Puts operation_id, host and task_id on every record (None when not known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current_context()
        for name in CONTEXT_FIELDS:
            # A value passed explicitly (logger.info(..., extra={...})) wins.
            if getattr(record, name, None) is None:
                setattr(record, name, fields.get(name))
        return True


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: value for name in CONTEXT_FIELDS if (value := getattr(record, name, None)) is not None
    }


class TextFormatter(logging.Formatter):
    """``2026-01-02 10:00:00,123 INFO hosts.services [op 12 host web-1 task 9f…] message``."""

    LABELS = {"operation_id": "op", "host": "host", "task_id": "task"}

    DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(context)s%(message)s"

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt or self.DEFAULT_FORMAT, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        fields = _context_of(record)
        record.context = (
            "[" + " ".join(f"{self.LABELS[k]} {v}" for k, v in fields.items()) + "] "
            if fields
            else ""
        )
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            **_context_of(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a stray non-JSON value in a context field must not lose the line.
        return json.dumps(entry, default=str)


def enter_log_context(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """``log_context`` for code that cannot wrap a block (Celery's task_prerun and
    task_postrun signals): returns the token ``leave_log_context`` takes."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def leave_log_context(token: contextvars.Token[Mapping[str, Any]]) -> None:
    _context.reset(token)
