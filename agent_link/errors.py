"""Typed failures of the agent link, each saying what the host's status becomes and
whether trying again later can help."""

from __future__ import annotations

import copy


class AgentLinkError(Exception):
    """The host could not be reached or the agent could not be started."""

    status = "unreachable"
    retryable = True

    def with_note(self, note: str) -> AgentLinkError:
        """The same error with ``note`` appended to its message."""
        clone = copy.copy(self)
        clone.args = (f"{self.args[0] if self.args else ''} {note}".strip(),)
        return clone


class HostUnreachable(AgentLinkError):
    pass


class AgentTimeout(AgentLinkError):
    """The agent did not answer a request in time."""


class SessionClosed(AgentLinkError):
    """The connection or the agent process went away."""


class AuthenticationFailed(AgentLinkError):
    status = "auth_failed"
    retryable = False


class HostKeyError(AgentLinkError):
    retryable = False

    def __init__(self, message: str, offered_key: str, role: str = "host") -> None:
        super().__init__(message)
        self.offered_key = offered_key
        self.role = role  # "host", or "jump host" when the bastion's key is the problem


class HostKeyUnknown(HostKeyError):
    status = "host_key_unknown"


class HostKeyMismatch(HostKeyError):
    status = "host_key_mismatch"


class AgentStartFailed(AgentLinkError):
    """The agent could not be installed or started (no python3, bad upload, …)."""

    status = "agent_failed"
    retryable = False


class AgentError(Exception):
    """The agent answered a request with an error; the link itself is fine."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
