"""The serve loop: read requests, dispatch them to a thread pool, handle cancel and EOF."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.ops import OPS
from berth_agent.protocol import (
    INTERNAL,
    INVALID_REQUEST,
    REQUEST_TOO_LARGE,
    UNKNOWN_OP,
    AgentError,
    error_reply,
    read_line,
    write_message,
)

WORKERS = 16
MAX_ID_LEN = 128
# After stdin EOF, cancelled ops get this long to notice it and undo half-done work (ops in
# OpContext.finish_on_eof() are not cancelled and are waited for without this limit).
EXIT_GRACE_S = 5.0


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LEN


class Server:
    """Owns the in-flight request table and the worker pool."""

    def __init__(self, docker_url: str) -> None:
        docker_client.configure(docker_url)
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="op")
        self.lock = threading.Lock()
        self.inflight: dict[Any, tuple[OpContext, Future]] = {}

    def handle_line(self, line: bytes) -> None:
        try:
            req = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            write_message(error_reply(None, INVALID_REQUEST, f"line is not valid JSON: {e}"))
            return
        if not isinstance(req, dict):
            write_message(error_reply(None, INVALID_REQUEST, "request must be a JSON object"))
            return
        req_id = req.get("id")
        if not _valid_id(req_id):
            msg = "request needs an id (an integer or a string of 1-128 characters)"
            write_message(error_reply(None, INVALID_REQUEST, msg))
            return
        unknown = sorted(set(req) - {"id", "op", "args"})
        if unknown:
            msg = f"unknown request key {unknown[0]!r}"
            write_message(error_reply(req_id, INVALID_REQUEST, msg))
            return
        op = req.get("op")
        if not isinstance(op, str) or not op:
            write_message(error_reply(req_id, INVALID_REQUEST, "request needs an op (string)"))
            return
        args = req.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            write_message(error_reply(req_id, INVALID_REQUEST, "args must be a JSON object"))
            return
        if op == "cancel":
            self._cancel(req_id, args)
            return
        func = OPS.get(op)
        if func is None:
            write_message(error_reply(req_id, UNKNOWN_OP, f"unknown op {op[:100]!r}"))
            return
        ctx = OpContext(req_id, op)
        with self.lock:
            if req_id in self.inflight:
                msg = f"request id {req_id!r} is already in flight"
                write_message(error_reply(req_id, INVALID_REQUEST, msg))
                return
            fut = self.pool.submit(self._run, ctx, func, args)
            self.inflight[req_id] = (ctx, fut)

    def _cancel(self, req_id: Any, args: dict) -> None:
        unknown = sorted(set(args) - {"target"})
        target = args.get("target")
        if unknown or not _valid_id(target):
            msg = (
                f"unknown argument {unknown[0]!r}"
                if unknown
                else "cancel needs args.target: the id of a request in flight"
            )
            write_message(error_reply(req_id, "invalid_argument", msg))
            return
        with self.lock:
            entry = self.inflight.get(target)
        if entry is not None:
            entry[0].cancel()
        write_message({"id": req_id, "ok": True, "result": {"cancelled": entry is not None}})

    def _run(self, ctx: OpContext, func: Any, args: dict) -> None:
        try:
            try:
                result = func(ctx, args)
                reply: dict[str, Any] = {"id": ctx.req_id, "ok": True, "result": result}
            except AgentError as e:
                reply = error_reply(ctx.req_id, e.code, e.message)
            except Exception as e:  # any failure must become a reply
                try:
                    translated = docker_client.translate_error(e)
                except Exception:  # translating needs the SDK, whose import may be what failed
                    translated = None
                if translated is not None:
                    reply = error_reply(ctx.req_id, translated.code, translated.message)
                else:
                    with contextlib.suppress(OSError, ValueError):  # stderr may be gone
                        print(f"berth-agent: internal error in {ctx.op}:", file=sys.stderr)
                        traceback.print_exc()
                        sys.stderr.flush()
                    reply = error_reply(
                        ctx.req_id, INTERNAL, f"internal error in {ctx.op}: {type(e).__name__}"
                    )
            # A stream interrupted by cancel fails in transport-specific ways; say why.
            if (
                ctx.cancelled
                and reply.get("ok") is False
                and reply["error"]["code"] not in ("invalid_argument", "not_found", "cancelled")
            ):
                reply = error_reply(ctx.req_id, "cancelled", f"{ctx.op} was cancelled")
            write_message(reply)
        finally:
            with self.lock:
                self.inflight.pop(ctx.req_id, None)

    def shutdown(self) -> None:
        """Stdin EOF: cancel what may be cancelled, wait for what must not be abandoned.

        Ops inside ``ctx.finish_on_eof()`` (service.deploy once it changes the host) are not
        cancelled: the agent waits for them to finish or undo, however long that takes (they
        are bounded by their own timeouts). Everything else is cancelled and gets
        EXIT_GRACE_S to notice and clean up.
        """
        with self.lock:
            entries = list(self.inflight.values())
        held = [fut for ctx, fut in entries if not ctx.cancel_for_eof()]
        if held:
            with contextlib.suppress(OSError, ValueError):  # stderr may be gone too
                print(
                    f"berth-agent: stdin closed; finishing {len(held)} op(s) before exiting",
                    file=sys.stderr,
                )
                sys.stderr.flush()
        deadline = time.monotonic() + EXIT_GRACE_S
        for _, fut in entries:
            if fut in held:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(Exception):
                fut.result(timeout=remaining)
        for fut in held:
            with contextlib.suppress(Exception):
                fut.result()


def serve(docker_url: str) -> int:
    """Serve requests from stdin until EOF; returns the exit code."""
    server = Server(docker_url)
    docker_client.prewarm()
    stdin = sys.stdin.buffer
    while True:
        line, too_large = read_line(stdin)
        if line is None:
            break
        if too_large:
            write_message(
                error_reply(None, REQUEST_TOO_LARGE, "request line is over 1 MiB; ignored")
            )
            continue
        if not line.strip():
            continue
        try:
            server.handle_line(line)
        except Exception as e:  # a bad line must never stop the agent
            traceback.print_exc()
            write_message(error_reply(None, INTERNAL, f"internal error: {type(e).__name__}"))
    server.shutdown()
    # The peer may be gone (EPIPE): nothing left to say, and the exit code must stay 0.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    # Worker threads may still sit in blocking engine calls; do not wait for them.
    os._exit(0)
