"""Service ops: deploy one revision of a service on this host as ONE op, list, remove.

- ``args``: the ops' arguments, checked before anything on the host changes;
- ``lock``: one deploy or removal of a service at a time on this engine;
- ``gates``: the health gate a new container must pass;
- ``switch``: service.deploy itself (pull, create, start, gate, switch) and its undo;
- ``manage``: service.list and service.remove;
- ``stack``: stack.deploy and stack.remove, the same for a stack's set of containers.
"""

from __future__ import annotations

from .manage import list_services, remove
from .stack import deploy as deploy_stack
from .stack import remove as remove_stack
from .switch import deploy

__all__ = ["deploy", "deploy_stack", "list_services", "remove", "remove_stack"]
