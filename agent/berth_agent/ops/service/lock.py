"""One deploy or removal of a service at a time on this engine, across agent processes."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.protocol import CANCELLED, CONFLICT, INTERNAL, AgentError

# How long a deploy/remove waits for another one of the same service on this engine.
LOCK_WAIT_S = 300.0
LOCK_POLL_S = 0.2
LOCK_DIR = os.path.join("~", ".berth", "locks")


def lock_path(service: str) -> str:
    """One lock file per (engine, service): every agent on the host driving that engine
    (one per Berth worker process) takes the same lock."""
    directory = os.path.expanduser(LOCK_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = hashlib.sha256(f"{docker_client.engine_url()}\0{service}".encode()).hexdigest()[:32]
    return os.path.join(directory, f"service-{key}.lock")


@contextlib.contextmanager
def service_lock(ctx: OpContext, service: str) -> Iterator[None]:
    """One deploy/remove of a service at a time on this engine, across agent processes.

    Two Berth workers may both decide a host needs the service (a convergence racing a
    late answer); serialised, the second one finds and replaces the first one's container
    instead of leaving two. A waiter gives up when cancelled or after LOCK_WAIT_S.
    """
    try:
        fd = os.open(lock_path(service), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise AgentError(INTERNAL, f"cannot open the lock file for {service!r}: {e}") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            if ctx.cancelled:
                raise AgentError(CANCELLED, f"{ctx.op} was cancelled while waiting")
            if time.monotonic() > deadline:
                raise AgentError(
                    CONFLICT,
                    f"another service.deploy or service.remove of {service!r} held the "
                    f"service for over {LOCK_WAIT_S:g} s",
                )
            if not told:
                ctx.progress(
                    {"step": "waiting", "message": f"waiting for another change of {service!r}"}
                )
                told = True
            ctx.cancel_event.wait(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
