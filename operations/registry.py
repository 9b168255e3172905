"""The actions an Operation can run, each a function registered by the app that owns it.

An app declares its actions in its ``services.py`` with :func:`action`; the one
generic Celery task looks the handler up by ``Operation.action``. Importing the
apps' services at start-up (``AppConfig.ready``) fills the registry in every
process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import OperationContext
    from .models import Operation

Handler = Callable[["Operation", "OperationContext"], Any]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    handler: Handler
    time_limit: int  # seconds a run may take before it is stopped and failed
    retry_transport: bool  # retry when the host could not be reached


_actions: dict[str, ActionSpec] = {}


def action(
    name: str, *, time_limit: int = 120, retry_transport: bool = True
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _actions[name] = ActionSpec(name, handler, time_limit, retry_transport)
        return handler

    return register


def get_action(name: str) -> ActionSpec | None:
    return _actions.get(name)


def action_names() -> list[str]:
    return sorted(_actions)
