"""Signals of the operation log, for apps that keep state of their own beside an operation.

``operation_finished`` is sent once an operation has ended, whatever ended it: its
handler, a cancel before any worker picked it up, a time limit, a bug, or the reaper.
An app whose own rows follow an operation (a rollout) listens to it, so the
operation stays the one owner of "is this still running" and nothing else can be
left open after it ends.
"""

from django.dispatch import Signal

# Sent with ``operation`` (the finished Operation, its status, error and result set).
operation_finished = Signal()
