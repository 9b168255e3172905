"""The one way server code talks to a host's agent.

``HostAgent(host, context)`` sends requests over this process's pooled link
(``agent_link.pool``) and waits for their answers. Whatever calls it (an action
handler, a rollout, a refresh) gets the same rules:

- **Discarding a link**: any ``AgentLinkError`` while talking to the host (no
  answer in time, the connection or the agent went away, the host could not be
  reached) drops the pooled link, so the next request dials afresh rather than
  trusting a session that may be wedged. ``AgentError`` (the agent answered with
  a refusal) leaves the link alone.
- **Timeouts**: ``BERTH_AGENT_REQUEST_TIMEOUT`` unless the caller gives its own.
- **Progress**: the agent's progress lines reach ``on_progress`` on the caller's
  thread (the link's reader thread only queues them), so callbacks may use the
  database.
- **Cancel**: with an operation context, a cancel asked for in Berth is passed on
  to the agent, which answers ``cancelled``.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from agent_link.errors import AgentLinkError, AgentTimeout, SessionClosed
from agent_link.launch import AgentLink, LinkConfig, Timeouts
from agent_link.pool import pool
from agent_link.session import PendingRequest
from agent_link.ssh import SSHTarget
from operations.context import CANCEL_CHECK_EVERY, CANCEL_GRACE, OperationContext, OperationFailed
from operations.models import Operation

from .choices import HostStatus, Transport
from .models import Host, SSHEndpoint

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
CancelCheck = Callable[[], bool]

# How often a waiting caller looks at progress, the cancel flag and its deadline.
TICK = 0.25


class _FromContext:
    """Cancel when the operation context says so (the default)."""


FROM_CONTEXT = _FromContext()


def _ssh_target(endpoint: SSHEndpoint) -> SSHTarget | None:
    if endpoint.ssh_key is None:
        return None
    return SSHTarget(
        address=endpoint.address,
        port=endpoint.port,
        username=endpoint.username,
        private_key=endpoint.ssh_key.private_key,
        passphrase=endpoint.ssh_key.passphrase,
        host_key=endpoint.host_key,
    )


def link_config(host: Host) -> LinkConfig:
    if host.transport != Transport.SSH:
        return LinkConfig(name=host.name, transport=host.transport, docker_host=host.docker_host)
    return LinkConfig(
        name=host.name,
        transport=host.transport,
        docker_host=host.docker_host,
        ssh=_ssh_target(host),
        jump=_ssh_target(host.jump_host) if host.jump_host else None,
    )


def link_timeouts() -> Timeouts:
    return Timeouts(
        connect=settings.BERTH_SSH_CONNECT_TIMEOUT,
        start=settings.BERTH_AGENT_START_TIMEOUT,
        keepalive=settings.BERTH_SSH_KEEPALIVE,
    )


def agent_link(host: Host) -> AgentLink:
    """This process's link to the host's agent, opened on first use."""
    if host.status == HostStatus.ONLINE:
        # Another process reached the host since this one last failed to: dial now
        # rather than sit out a stale backoff.
        pool.reset_backoff(host.pk)
    return pool.get(host.pk, link_config(host), link_timeouts())


def operation_host(operation: Operation) -> Host:
    """The host ``operation`` acts on, with what its link needs (keys, jump host); the
    operation fails, saying so, if the host was removed before it ran."""
    host = (
        Host.objects.select_related("ssh_key", "jump_host__ssh_key")
        .filter(pk=operation.host_id)
        .first()
        if operation.host_id is not None
        else None
    )
    if host is None:
        raise OperationFailed("the host was removed from Berth before the action ran")
    return host


# Set on every engine object an operation creates (a network, a volume): the operation
# that made it, so a second run of the operation (its worker was lost) finds it instead
# of failing on its own work.
OPERATION_LABEL = "berth.operation"


def call_then_reread(
    operation: Operation,
    context: OperationContext,
    op: str,
    args: Any,
    *,
    reread: Callable[[HostAgent], object],
    what: str,
) -> Any:
    """Ask the operation's host for ``op``, then ``reread`` what it changed (the host's
    ``what``) whatever the outcome: a refusal, too, says the stored rows may be stale.
    A failed re-read is logged; the agent's answer is the outcome, and the next refresh
    catches up."""
    agent = HostAgent(operation_host(operation), context)
    context.progress(force=True, step=f"{op} on {agent.host.name}")
    try:
        return agent.call(op, args, timeout=max(float(settings.BERTH_AGENT_REQUEST_TIMEOUT), 60.0))
    finally:
        context.progress(force=True, step=f"reading the {what} of {agent.host.name}")
        try:
            reread(agent)
        except Exception:
            log.warning("could not re-read the %s of %s after %s", what, agent, op, exc_info=True)


class HostAgent:
    """The agent on ``host``, as seen from one caller (with its operation, if any)."""

    def __init__(self, host: Host, context: OperationContext | None = None) -> None:
        self.host = host
        self.context = context

    def __str__(self) -> str:
        return self.host.name

    # -- the link -------------------------------------------------------------------------

    @property
    def link(self) -> AgentLink:
        """The pooled link, dialled if there is none (an AgentLinkError if that fails)."""
        try:
            return agent_link(self.host)
        except AgentLinkError:
            pool.discard(self.host.pk)
            raise

    def discard(self) -> None:
        """Forget the pooled link: the next request dials afresh."""
        pool.discard(self.host.pk)

    def ensure_live(self) -> None:
        """Ping the agent and, if a pooled link does not answer, dial a fresh one (or fail
        clearly). For requests that wait minutes for their answer: a connection that died
        quietly (a cut cable) must not be trusted with one."""
        try:
            self.call("ping", timeout=settings.BERTH_SSH_CONNECT_TIMEOUT, cancel=None)
        except (AgentTimeout, SessionClosed):
            self.link  # noqa: B018 - dials a fresh link (the dead one is discarded), or fails

    def sync_policy(self, revoked: Iterable[str] = ()) -> None:
        """Write the host's container policy file as the policy is now (agent_link.launch)."""
        try:
            self.link.sync_policy(revoked)
        except AgentLinkError:
            self.discard()
            raise

    # -- requests -------------------------------------------------------------------------

    def _request(
        self, op: str, args: dict[str, Any] | None, on_progress: Progress | None = None
    ) -> PendingRequest:
        try:
            return self.link.session.request(op, args, on_progress)
        except AgentLinkError:
            self.discard()
            raise

    def send(self, op: str, args: dict[str, Any] | None = None) -> PendingRequest:
        """Send a request without waiting for it; ``wait`` for its answer. Progress lines
        of a request sent this way are dropped: use ``call`` or ``stream`` for those."""
        return self._request(op, args)

    def wait(self, pending: PendingRequest, timeout: float) -> Any:
        """The answer to a request from ``send``: its result, the agent's AgentError, or
        an AgentLinkError (and the link discarded)."""
        return self._await(pending, timeout, None, None, cancel=None, grace=CANCEL_GRACE)

    def call(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_progress: Progress | None = None,
        cancel: CancelCheck | _FromContext | None = FROM_CONTEXT,
        cancel_grace: float = CANCEL_GRACE,
        watch_link: float | None = None,
    ) -> Any:
        """Send ``op`` and wait for its result.

        ``cancel``: when it returns true the agent is told to stop the request, and the
        answer (normally the agent's ``cancelled`` error) is awaited ``cancel_grace``
        more seconds. ``watch_link``: ping the agent this often beside a long request, so
        a link that died quietly fails in seconds instead of at ``timeout``.
        """
        events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        pending = self._request(op, args, events.put if on_progress else None)
        wait = timeout if timeout is not None else settings.BERTH_AGENT_REQUEST_TIMEOUT
        return self._await(
            pending,
            wait,
            events,
            on_progress,
            cancel=self._cancel_check(cancel),
            grace=cancel_grace,
            watch_link=watch_link,
        )

    def stream(
        self, op: str, args: dict[str, Any], *, on_event: Progress, duration: float
    ) -> Any | None:
        """Send ``op`` (a request that streams events, such as a log follow) and pass each
        event to ``on_event`` for at most ``duration`` seconds. Returns the final answer,
        or None when the stream ran its full time: the agent is then told to stop, and
        the link stays (running out of time is a normal end here)."""
        events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        pending = self._request(op, args, events.put)
        return self._await(
            pending,
            duration,
            events,
            on_event,
            cancel=self._cancel_check(FROM_CONTEXT),
            grace=CANCEL_GRACE,
            until_deadline=True,
        )

    # -- waiting --------------------------------------------------------------------------

    def _cancel_check(self, cancel: CancelCheck | _FromContext | None) -> CancelCheck | None:
        if isinstance(cancel, _FromContext):
            return self.context.cancel_requested if self.context is not None else None
        return cancel

    def _await(
        self,
        pending: PendingRequest,
        timeout: float,
        events: queue.SimpleQueue[dict[str, Any]] | None,
        on_progress: Progress | None,
        *,
        cancel: CancelCheck | None,
        grace: float,
        watch_link: float | None = None,
        until_deadline: bool = False,
    ) -> Any:
        deadline = time.monotonic() + timeout
        next_ping = time.monotonic() + watch_link if watch_link else None
        cancel_sent = False
        try:
            while True:
                now = time.monotonic()
                tick = min(TICK, CANCEL_CHECK_EVERY, max(deadline - now, 0))
                if pending.done_within(tick):
                    break
                self._deliver(events, on_progress)
                now = time.monotonic()
                if not cancel_sent and cancel is not None and cancel():
                    pending.session.cancel(pending.id)
                    cancel_sent = True
                    deadline = min(deadline, now + grace)
                if watch_link and next_ping is not None and now >= next_ping:
                    self._check_link(pending)
                    next_ping = time.monotonic() + watch_link
                if now >= deadline:
                    if until_deadline and not cancel_sent:
                        pending.session.cancel(pending.id)
                        self._deliver(events, on_progress)
                        return None
                    raise AgentTimeout(
                        f"{pending.op} got no answer from the agent on {self.host.name} "
                        f"within {timeout:g} s"
                    )
            self._deliver(events, on_progress)
            return pending.wait(0)
        except AgentLinkError:
            if not pending.done_within(0):
                pending.session.cancel(pending.id)
            self.discard()
            raise

    def _deliver(
        self, events: queue.SimpleQueue[dict[str, Any]] | None, on_progress: Progress | None
    ) -> None:
        """Hand queued progress to the caller's callback, and the operation's buffered
        stream and progress to the database, on this (the caller's) thread."""
        if events is not None and on_progress is not None:
            while True:
                try:
                    event = events.get_nowait()
                except queue.Empty:
                    break
                on_progress(event)
        if self.context is not None:
            self.context.flush_if_pending()

    def _check_link(self, pending: PendingRequest) -> None:
        """Ping beside a long request. A cut cable shows no error on an idle SSH
        connection for many minutes; without this, the caller would wait its whole
        timeout for an answer that cannot come."""
        try:
            pending.session.call("ping", timeout=settings.BERTH_SSH_CONNECT_TIMEOUT)
        except AgentTimeout:
            raise AgentTimeout(
                f"lost contact with {self.host.name} during {pending.op} (no answer to a ping "
                f"within {settings.BERTH_SSH_CONNECT_TIMEOUT} s)"
            ) from None
