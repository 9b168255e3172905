"""Files sent with a request for an operation's handler (a build context), kept in the
database in chunks until the operation ends (every process shares the database; the
worker that runs the operation may be another machine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from .models import Operation, OperationUpload

CHUNK_BYTES = 512 * 1024  # a chunk in base64 fits in one agent request (1 MiB a line)


def save_upload(operation: Operation, source: IO[bytes]) -> int:
    """Store ``source`` for ``operation``; returns its size in bytes."""
    size = 0
    seq = 0
    while chunk := source.read(CHUNK_BYTES):
        OperationUpload.objects.create(operation=operation, seq=seq, data=chunk)
        seq += 1
        size += len(chunk)
    return size


def read_upload(operation: Operation) -> Iterator[bytes]:
    """The stored file, a chunk at a time (one chunk in memory at once)."""
    seqs = OperationUpload.objects.filter(operation=operation).values_list("seq", flat=True)
    for seq in list(seqs):
        data = (
            OperationUpload.objects.filter(operation=operation, seq=seq)
            .values_list("data", flat=True)
            .get()
        )
        yield bytes(data)


def drop_upload(sender: Any, operation: Operation, **kwargs: Any) -> None:
    """An ended operation's upload is of no more use (an ``operation_finished`` receiver)."""
    OperationUpload.objects.filter(operation=operation).delete()
