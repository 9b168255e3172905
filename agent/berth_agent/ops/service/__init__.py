"""Service ops: deploy one revision of a service on this host as ONE op, list, remove.

- ``args``: the ops' arguments, checked before anything on the host changes;
- ``lock``: one deploy or removal of a service at a time on this engine;
- ``gates``: the health gate a new container must pass;
- ``switch``: service.deploy itself (pull, create, start, gate, switch) and its undo;
- ``manage``: service.list and service.remove.
"""

from __future__ import annotations

from .manage import list_services, remove
from .switch import deploy

__all__ = ["deploy", "list_services", "remove"]
